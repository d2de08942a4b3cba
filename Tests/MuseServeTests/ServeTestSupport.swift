import Foundation
import Hummingbird
import HummingbirdTesting
import MuseCore
import MuseHost
@testable import MuseServe
import XCTest

/// Where the built products are (the plugins the served pipelines use).
enum Products {
    static let folder: String = {
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        // `swift test` runs .build/<config>/<package>PackageTests.xctest
        if dir.pathExtension == "xctest" { dir = dir.deletingLastPathComponent() }
        return dir.path
    }()
    static func path(_ name: String) -> String { (folder as NSString).appendingPathComponent(name) }
}

/// A served folder of small pipelines (image ops and the test plugin's slow stage)
/// and an output folder, both fresh per test.
struct ServeFixture {
    let root: URL
    var settings: ServeSettings
    var pipelines: URL { settings.pipelinesFolder }

    init(queueCapacity: Int = 4, maxUploadBytes: Int = 1 << 20, maxUploadPixels: Int = 256 * 256) throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("muse-serve-tests-\(UUID().uuidString)")
        let pipelines = root.appendingPathComponent("pipelines")
        try FileManager.default.createDirectory(at: pipelines, withIntermediateDirectories: true)
        let weightsPlugin = Products.path("libTestPluginWeights.so")
        let files: [String: String] = [
            // The shipped Pipelines/pixelate-region.yaml with no default image.
            "pixelate.yaml": """
            version: 1
            description: Pixelate the masked region.
            inputs:
              image: {type: image, doc: the picture}
              mask: {type: mask, doc: white where to pixelate}
            stages:
              fit: {kind: image.resize, config: {width: 64, height: 64, filter: box}, inputs: {image: input.image}}
              small: {kind: image.resize, config: {width: 8, height: 8, filter: box}, inputs: {image: fit.image}}
              blocks: {kind: image.resize, config: {width: 64, height: 64, filter: nearest}, inputs: {image: small.image}}
              blend: {kind: image.composite, inputs: {base: fit.image, overlay: blocks.image, mask: input.mask}}
            outputs:
              image: blend.image
            """,
            "slow.yaml": """
            version: 1
            description: Twenty steps of 50 ms, then a gray image from the seed.
            plugins: [\(weightsPlugin)]
            inputs:
              seed: {type: scalar, default: 5, doc: run seed}
              note: {type: text, default: "", doc: ignored text}
              extra: {type: text, optional: true, doc: optional ignored text}
            stages:
              work: {kind: test.slow, config: {steps: 20, step_ms: 50}}
            outputs:
              image: work.image
            """,
            "enlarge.yaml": """
            version: 1
            description: Enlarge a picture two ways.
            inputs:
              image: {type: image, doc: the picture}
            stages:
              big: {kind: image.resize, config: {width: 32, height: 32, filter: nearest}, inputs: {image: input.image}}
            outputs:
              image: big.image
            variants:
              nearest: {}
              bilinear: {set: {big.filter: bilinear}}
            """,
            "broken.yaml": "version: 1\nstages: [unclosed\n",
        ]
        for (name, text) in files { try text.write(to: pipelines.appendingPathComponent(name), atomically: true, encoding: .utf8) }
        settings = ServeSettings(pipelinesFolder: pipelines, outputFolder: root.appendingPathComponent("out"), queueCapacity: queueCapacity,
                                 maxUploadBytes: maxUploadBytes, maxUploadPixels: maxUploadPixels, pluginPaths: [Products.folder])
    }

    func app() throws -> ServeApp { try ServeApp(settings: settings) }
}

/// A small test picture: a colour gradient, as PNG bytes.
func testPicture(width: Int = 16, height: Int = 16) throws -> Data {
    var px: [Float] = []
    for y in 0..<height { for x in 0..<width { px += [Float(x) / Float(width), Float(y) / Float(height), 0.5] } }
    return try PNGCodec.encode(Image(width: width, height: height, pixels: px))
}

/// A mask PNG: white on the left half, black elsewhere.
func testMask(width: Int = 16, height: Int = 16) throws -> Data {
    var px: [Float] = []
    for _ in 0..<height { for x in 0..<width { let v: Float = x < width / 2 ? 1 : 0; px += [v, v, v] } }
    return try PNGCodec.encode(Image(width: width, height: height, pixels: px))
}

func dataURL(_ png: Data) -> String { "data:image/png;base64," + png.base64EncodedString() }

func jsonBody(_ object: Any) throws -> ByteBuffer {
    ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: object))
}

func decode<T: Decodable>(_ type: T.Type, _ response: TestResponse) throws -> T {
    try JSONDecoder().decode(T.self, from: Data(response.body.readableBytesView))
}

/// The `error` message of a refused request.
func errorMessage(_ response: TestResponse) -> String {
    let object = try? JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any]
    return (object?["error"] as? String) ?? "<no error message: \(String(buffer: response.body))>"
}

extension TestClientProtocol {
    /// Submits a run; returns the response.
    func submit(_ body: [String: Any]) async throws -> TestResponse {
        try await execute(uri: "/api/jobs", method: .post, headers: [.contentType: "application/json"], body: try jsonBody(body))
    }

    /// Polls a job until it finishes (60 s at most).
    func waitForJob(_ id: String, file: StaticString = #filePath, line: UInt = #line) async throws -> JobStatus {
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            let status = try await execute(uri: "/api/jobs/\(id)", method: .get) { try decode(JobStatus.self, $0) }
            if status.finished { return status }
            try await Task.sleep(nanoseconds: 20_000_000)
        }
        XCTFail("job \(id) did not finish within 60 s", file: file, line: line)
        throw CancellationError()
    }

    /// Waits until a job is running (or finished).
    func waitUntilRunning(_ id: String) async throws {
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            let status = try await execute(uri: "/api/jobs/\(id)", method: .get) { try decode(JobStatus.self, $0) }
            if status.state != .queued { return }
            try await Task.sleep(nanoseconds: 10_000_000)
        }
        XCTFail("job \(id) did not start within 30 s")
    }
}
