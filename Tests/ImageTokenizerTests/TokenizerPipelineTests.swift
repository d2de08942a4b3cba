import XCTest
import Foundation
import MuseCore
import MuseEngine
import MuseImageTokenizer

/// The tokenizer stages through the real plugin (`libMuseImageTokenizer.so`) and `muse-run`.
final class TokenizerPipelineTests: XCTestCase {
    var museRun: String { TokenizerTrainingTests.productsFolder.appendingPathComponent("muse-run").path }
    var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("tok-pipe-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let fp32 = OpenBLASBackend()
        try ImageTokenizerModel(tinyConfig(), codebookName: "book-a", seed: 1, backend: fp32).saveWeights(to: dir.appendingPathComponent("a.safetensors"))
        try ImageTokenizerModel(tinyConfig(), codebookName: "book-b", seed: 2, backend: fp32).saveWeights(to: dir.appendingPathComponent("b.safetensors"), dtype: .f16)
        try PNGCodec.write(Image(width: 16, height: 16, pixels: (0..<768).map { Float($0 % 11) / 10 }), to: dir.appendingPathComponent("in16.png"))
        try PNGCodec.write(Image(width: 12, height: 16, fill: [0.5, 0.5, 0.5]), to: dir.appendingPathComponent("in12.png"))
    }
    override func tearDown() { try? FileManager.default.removeItem(at: dir) }

    func pipeline(encoder: String, decoder: String) throws -> URL {
        let yaml = """
        version: 1
        inputs:
          image: {type: image, default: in16.png, doc: a 16x16 picture}
        stages:
          encode:
            kind: tokenizer.encode
            weights: \(encoder)
            config: {image_size: 16}
            inputs: {image: input.image}
          decode:
            kind: tokenizer.decode
            weights: \(decoder)
            inputs: {tokens: encode.tokens}
        outputs:
          image: decode.image
        """
        let url = dir.appendingPathComponent("p-\(encoder)-\(decoder).yaml")
        try yaml.write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    func run(_ args: [String]) throws -> (status: Int32, stderr: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: museRun)
        p.arguments = args
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        let data = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    func testReconstructThroughThePlugin() throws {
        guard FileManager.default.fileExists(atPath: museRun) else { return XCTFail("\(museRun) is missing: build all products first") }
        let out = dir.appendingPathComponent("out.png")
        let r = try run([try pipeline(encoder: "a.safetensors", decoder: "a.safetensors").path, "--out", out.path, "--quiet"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let img = try PNGCodec.read(out)
        XCTAssertEqual(img.width, 16); XCTAssertEqual(img.height, 16)
        // The same as the library computes (to 8-bit PNG precision).
        let model = try ImageTokenizerModel.load(contentsOf: dir.appendingPathComponent("a.safetensors"))
        let expected = try model.reconstruct([try PNGCodec.read(dir.appendingPathComponent("in16.png")).rgb()]).images[0]
        XCTAssertLessThanOrEqual(zip(img.rgb().pixels, expected.pixels).map { abs($0 - $1) }.max()!, 0.5 / 255 + 1e-5)

        // Another image size is a clear error.
        let wrong = try run([try pipeline(encoder: "a.safetensors", decoder: "a.safetensors").path, "--image", dir.appendingPathComponent("in12.png").path, "--quiet"])
        XCTAssertNotEqual(wrong.status, 0)
        XCTAssertTrue(wrong.stderr.contains("12x16") && wrong.stderr.contains("16x16"), wrong.stderr)
    }

    func testDecoderRefusesAnotherCodebook() throws {
        guard FileManager.default.fileExists(atPath: museRun) else { return XCTFail("\(museRun) is missing: build all products first") }
        let r = try run([try pipeline(encoder: "a.safetensors", decoder: "b.safetensors").path, "--out", dir.appendingPathComponent("x.png").path, "--quiet"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("book-a") && r.stderr.contains("book-b"), r.stderr)
    }

    /// The shipped quantizer A/B on the shipped weights: a grid of the two variants,
    /// a report naming each variant's weights, and each variant alone equal to its
    /// tokenizer's own reconstruction (the two differ).
    func testShippedQuantizerAB() throws {
        guard FileManager.default.fileExists(atPath: museRun) else { return XCTFail("\(museRun) is missing: build all products first") }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let pipeline = root.appendingPathComponent("Pipelines/quantizer-ab.yaml").path
        let grid = dir.appendingPathComponent("qab.png")
        let r = try run([pipeline, "--out", grid.path, "--quiet"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertGreaterThanOrEqual(try PNGCodec.read(grid).width, 2 * 128)
        let report = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("qab.json"))) as? [String: Any]
        let variants = try XCTUnwrap(report?["variants"] as? [[String: Any]])
        XCTAssertEqual(variants.compactMap { $0["name"] as? String }, ["fsq", "codebook"])
        XCTAssertEqual(variants[1]["changes"] as? [String], ["encode:weights=tokenizer-64-codebook.safetensors",
                                                             "decode:weights=tokenizer-64-codebook.safetensors"])
        let scene = try PNGCodec.read(root.appendingPathComponent("Examples/scene-64.png")).rgb()
        var panels: [Image] = []
        for (variant, weights) in [("fsq", "tokenizer-64"), ("codebook", "tokenizer-64-codebook")] {
            let out = dir.appendingPathComponent("\(variant).png")
            let one = try run([pipeline, "--variant", variant, "--out", out.path, "--quiet"])
            XCTAssertEqual(one.status, 0, one.stderr)
            let big = try PNGCodec.read(out).rgb()
            XCTAssertEqual([big.width, big.height], [128, 128])
            let model = try ImageTokenizerModel.load(contentsOf: root.appendingPathComponent("Weights/\(weights).safetensors"))
            XCTAssertEqual(model.codebookName.hasSuffix(variant == "fsq" ? "fsq1000" : "codebook1024"), true, model.codebookName)
            let expected = try model.reconstruct([scene]).images[0]
            var worst: Float = 0
            for y in 0..<64 { for x in 0..<64 { for c in 0..<3 {
                // nearest 2x enlargement: pixel (2x, 2y) is the reconstruction's (x, y)
                worst = max(worst, abs(big.pixels[((2 * y) * 128 + 2 * x) * 3 + c] - expected.pixels[(y * 64 + x) * 3 + c]))
            }}}
            XCTAssertLessThanOrEqual(worst, 0.5 / 255 + 1e-5, variant)
            panels.append(big)
        }
        XCTAssertNotEqual(panels[0].pixels, panels[1].pixels, "the two quantizers reconstruct differently")
    }

    func testDescribeDocumentsTheStages() throws {
        guard FileManager.default.fileExists(atPath: museRun) else { return XCTFail("\(museRun) is missing: build all products first") }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: museRun)
        p.arguments = ["--describe", "tokenizer.encode"]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0)
        XCTAssertTrue(text.contains("image_size") && text.contains("token_grid"), text)
    }
}
