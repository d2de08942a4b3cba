import Foundation
import Hummingbird
import HummingbirdTesting
import MuseCore
import MuseHost
@testable import MuseServe
import XCTest

/// Every route of muse-serve through Hummingbird's test client: the page, the
/// forms, runs with uploads and painted masks, progress events, the bounded
/// queue, cancelling, the history and reruns, files, and every kind of bad request.
final class ServeRouteTests: XCTestCase {
    func testPageAndForms() async throws {
        let fixture = try ServeFixture()
        let app = try fixture.app()
        try await app.application(host: "127.0.0.1", port: 0).test(.router) { client in
            try await client.execute(uri: "/", method: .get) { r in
                XCTAssertEqual(r.status, .ok)
                XCTAssertEqual(r.headers[.contentType], "text/html; charset=utf-8")
                let page = String(buffer: r.body)
                XCTAssertTrue(page.contains("id=\"pipeline\"") && page.contains("/api/jobs"), "the page builds its form from the API")
            }
            let forms = try await client.execute(uri: "/api/pipelines", method: .get) { try decode([PipelineForm].self, $0) }
            XCTAssertEqual(forms.map(\.name), ["broken", "enlarge", "pixelate", "slow"])
            let pixelate = try XCTUnwrap(forms.first { $0.name == "pixelate" })
            XCTAssertEqual(pixelate.inputs.map(\.name), ["image", "mask"])
            XCTAssertEqual(pixelate.inputs.map(\.type), ["image", "mask"])
            XCTAssertEqual(pixelate.inputs.map(\.required), [true, true])
            XCTAssertEqual(pixelate.inputs[1].doc, "white where to pixelate")
            XCTAssertNil(pixelate.error)
            // The seed has its own field: a `seed` input gives its default, not a form field.
            let slow = try XCTUnwrap(forms.first { $0.name == "slow" })
            XCTAssertEqual(slow.inputs.map(\.name), ["note", "extra"])
            XCTAssertEqual(slow.inputs.map(\.optional), [false, true])
            XCTAssertEqual(slow.inputs.map(\.required), [false, false])
            XCTAssertEqual(slow.defaultSeed, "5")
            XCTAssertEqual(forms.first { $0.name == "enlarge" }?.variants, ["nearest", "bilinear"])
            let broken = try XCTUnwrap(forms.first { $0.name == "broken" })
            XCTAssertTrue(broken.error?.contains("broken.yaml:") ?? false, "a file that does not parse is listed with its error: \(broken.error ?? "nil")")

            try await client.execute(uri: "/api/pipelines/slow", method: .get) { r in
                XCTAssertEqual(r.status, .ok)
                XCTAssertEqual(try decode(PipelineForm.self, r).name, "slow")
            }
            try await client.execute(uri: "/api/pipelines/slwo", method: .get) { r in
                XCTAssertEqual(r.status, .notFound)
                XCTAssertTrue(errorMessage(r).contains("did you mean 'slow'"), errorMessage(r))
            }
            // A path or method no route has: a JSON 404 like every other error.
            for (uri, method) in [("/api/nope", HTTPRequest.Method.get), ("/favicon.ico", .get),
                                  ("/api/pipelines", .post), ("/api/" + String(repeating: "x", count: 500), .get)] {
                try await client.execute(uri: uri, method: method) { r in
                    XCTAssertEqual(r.status, .notFound, uri)
                    XCTAssertEqual(r.headers[.contentType], "application/json", uri)
                    let message = errorMessage(r)
                    XCTAssertTrue(message.hasPrefix("no route \(method) \(uri.prefix(20))"), message)
                    XCTAssertLessThan(message.count, 200, "long paths are not echoed whole")
                }
            }
            // Only files directly in the folder, by their stem: no paths.
            for bad in ["..%2Fpipelines%2Fslow", "%2Fetc%2Fpasswd", ".hidden", "slow.yaml"] {
                try await client.execute(uri: "/api/pipelines/\(bad)", method: .get) { r in
                    XCTAssertEqual(r.status, .notFound, bad)
                }
            }
        }
    }

    /// An uploaded picture and a painted mask through the pixelate pipeline: the
    /// result equals the same pipeline run directly (as muse-run runs it), carries
    /// the run's provenance, and comes with a JSON report.
    func testRunWithUploadAndMask() async throws {
        let fixture = try ServeFixture()
        let app = try fixture.app()
        let picture = try testPicture(), mask = try testMask()
        try await app.application(host: "127.0.0.1", port: 0).test(.router) { client in
            let submitted = try await client.submit(["pipeline": "pixelate", "inputs": ["image": dataURL(picture), "mask": dataURL(mask)], "seed": 7])
            XCTAssertEqual(submitted.status, .accepted, errorMessage(submitted))
            let queued = try decode(JobStatus.self, submitted)
            XCTAssertEqual(queued.pipeline, "pixelate")
            XCTAssertEqual(queued.seed, 7)
            let done = try await client.waitForJob(queued.id)
            XCTAssertEqual(done.state, .done, done.message ?? "")
            XCTAssertEqual(done.stagesDone, 4)
            let image = try XCTUnwrap(done.files.first { $0.kind == "image" })
            let report = try XCTUnwrap(done.files.first { $0.kind == "report" })
            let served = try await client.execute(uri: "/files/\(image.name)", method: .get) { r -> Data in
                XCTAssertEqual(r.status, .ok)
                XCTAssertEqual(r.headers[.contentType], "image/png")
                return Data(r.body.readableBytesView)
            }
            // The same pipeline run directly, with the same inputs and seed.
            let folder = fixture.root.appendingPathComponent("direct")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            try picture.write(to: folder.appendingPathComponent("in.png"))
            try mask.write(to: folder.appendingPathComponent("mask.png"))
            let registry = PluginRegistry()
            registry.loadFolder(Products.folder)
            var overrides = PipelineOverrides()
            overrides.inputs = ["image": folder.appendingPathComponent("in.png").path, "mask": folder.appendingPathComponent("mask.png").path]
            overrides.seed = 7
            let doc = try PipelineDocument.load(fixture.pipelines.appendingPathComponent("pixelate.yaml"))
            let direct = try PipelineRunner().run(try PipelineValidator(registry: registry).resolve(doc, overrides: overrides))
            guard case .image(let expected)? = direct.outputs.first?.value else { return XCTFail("no image from the direct run") }
            // As PNG (8 bits per channel) both ways.
            XCTAssertEqual(try PNGCodec.decode(served), try PNGCodec.decode(try PNGCodec.encode(expected)))
            // Part of the picture is pixelated, the rest kept: not a copy of either.
            let fitted = try PNGCodec.decode(picture).resized(width: 64, height: 64, filter: .box)
            XCTAssertNotEqual(expected, fitted)

            let provenance = try XCTUnwrap(try PNGTextChunks.read(served)[RunProvenance.keyword])
            let p = try JSONDecoder().decode(RunProvenance.self, from: Data(provenance.utf8))
            XCTAssertEqual(p.seed, 7)
            XCTAssertEqual(p.pipeline, fixture.pipelines.appendingPathComponent("pixelate.yaml").path)
            XCTAssertTrue(p.inputs["mask"]?.hasPrefix(fixture.settings.uploadsFolder.path) ?? false, "uploads are kept for reruns")

            try await client.execute(uri: "/files/\(report.name)", method: .get) { r in
                XCTAssertEqual(r.status, .ok)
                let object = try JSONSerialization.jsonObject(with: Data(r.body.readableBytesView)) as? [String: Any]
                XCTAssertEqual(object?["seed"] as? Int, 7)
                XCTAssertEqual((object?["timings"] as? [Any])?.count, 4)
            }
        }
    }

    func testProgressEventsAndStagesStayLoaded() async throws {
        let fixture = try ServeFixture()
        let app = try fixture.app()
        try await app.application(host: "127.0.0.1", port: 0).test(.router) { client in
            // An optional input left empty is not given.
            let first = try decode(JobStatus.self, try await client.submit(["pipeline": "slow", "inputs": ["note": "hello", "extra": ""]]))
            XCTAssertEqual(first.seed, nil, "no seed given: the pipeline's own")
            // The event stream ends when the job does; its events show every step.
            let events = try await client.execute(uri: "/api/jobs/\(first.id)/events", method: .get) { r -> [JobStatus] in
                XCTAssertEqual(r.status, .ok)
                XCTAssertEqual(r.headers[.contentType], "text/event-stream")
                return try String(buffer: r.body).components(separatedBy: "\n\n").filter { !$0.isEmpty }.map { block in
                    XCTAssertTrue(block.hasPrefix("data: "), block)
                    return try JSONDecoder().decode(JobStatus.self, from: Data(block.dropFirst(6).utf8))
                }
            }
            XCTAssertEqual(events.last?.state, .done)
            let steps = events.filter { $0.state == .running && $0.stage == "work" }.map(\.step)
            XCTAssertTrue(steps.count >= 2 && steps == steps.sorted() && steps.last == 20, "progress in order up to 20: \(steps)")
            XCTAssertEqual(events.last?.total, 20)
            // A finished job's stream is its final status, at once.
            try await client.execute(uri: "/api/jobs/\(first.id)/events", method: .get) { r in
                XCTAssertEqual(String(buffer: r.body).components(separatedBy: "\n\n").filter { !$0.isEmpty }.count, 1)
            }

            // A second run of the same pipeline reuses its stage; the seed decides the image.
            let second = try decode(JobStatus.self, try await client.submit(["pipeline": "slow", "seed": "5"]))
            let done = try await client.waitForJob(second.id)
            let report = try await client.execute(uri: "/files/\(done.files[1].name)", method: .get) {
                try JSONSerialization.jsonObject(with: Data($0.body.readableBytesView)) as? [String: Any]
            }
            XCTAssertEqual((report?["timings"] as? [[String: Any]])?.first?["reused"] as? Bool, true, "stages stay loaded between runs")
            let firstDone = try await client.waitForJob(first.id)
            let images = try await [firstDone.files[0].name, done.files[0].name].asyncMap { name in
                try await client.execute(uri: "/files/\(name)", method: .get) { try PNGCodec.decode(Data($0.body.readableBytesView)) }
            }
            XCTAssertEqual(images[0], images[1], "seed 5 is the pipeline's default seed")
            let got1 = try await client.execute(uri: "/api/jobs/nope/events", method: .get).status
            XCTAssertEqual(got1, .notFound)
        }
    }

    func testFullQueueAndCancel() async throws {
        let fixture = try ServeFixture(queueCapacity: 1)
        let app = try fixture.app()
        try await app.application(host: "127.0.0.1", port: 0).test(.router) { client in
            let running = try decode(JobStatus.self, try await client.submit(["pipeline": "slow"]))
            try await client.waitUntilRunning(running.id)
            let waiting = try await client.submit(["pipeline": "slow", "seed": 1])
            XCTAssertEqual(waiting.status, .accepted)
            let waitingJob = try decode(JobStatus.self, waiting)
            XCTAssertEqual(waitingJob.state, .queued)
            XCTAssertEqual(waitingJob.position, 0)
            // The queue holds one waiting run: the next is refused, clearly.
            let refused = try await client.submit(["pipeline": "slow", "seed": 2])
            XCTAssertEqual(refused.status, .serviceUnavailable)
            XCTAssertEqual(refused.headers[.retryAfter], "5")
            XCTAssertTrue(errorMessage(refused).contains("busy") && errorMessage(refused).contains("try again"), errorMessage(refused))

            // Cancel the queued one (at once) and the running one (at its next step).
            try await client.execute(uri: "/api/jobs/\(waitingJob.id)/cancel", method: .post) { r in
                XCTAssertEqual(r.status, .ok)
                XCTAssertEqual(try decode(JobStatus.self, r).state, .cancelled)
            }
            try await client.execute(uri: "/api/jobs/\(running.id)/cancel", method: .post) { r in XCTAssertEqual(r.status, .ok) }
            let stopped = try await client.waitForJob(running.id)
            XCTAssertEqual(stopped.state, .cancelled)
            XCTAssertLessThan(stopped.step, 20, "the stage stopped before its last step")
            XCTAssertEqual(stopped.files, [])
            try await client.execute(uri: "/api/jobs/\(running.id)/cancel", method: .post) { r in
                XCTAssertEqual(r.status, .conflict)
                XCTAssertTrue(errorMessage(r).contains("already finished"), errorMessage(r))
            }
            let got2 = try await client.execute(uri: "/api/jobs/none-such/cancel", method: .post).status
            XCTAssertEqual(got2, .notFound)
            // The queue has room again and the worker goes on.
            let after = try decode(JobStatus.self, try await client.submit(["pipeline": "slow", "seed": 3]))
            let got3 = try await client.waitForJob(after.id).state
            XCTAssertEqual(got3, .done)
            let got4 = try await client.execute(uri: "/api/jobs/none-such", method: .get).status
            XCTAssertEqual(got4, .notFound)
        }
    }

    func testHistoryAndRerun() async throws {
        let fixture = try ServeFixture()
        let app = try fixture.app()
        try await app.application(host: "127.0.0.1", port: 0).test(.router) { client in
            let job = try decode(JobStatus.self, try await client.submit(["pipeline": "enlarge", "inputs": ["image": dataURL(try testPicture())], "ab": true]))
            let done = try await client.waitForJob(job.id)
            XCTAssertEqual(done.state, .done, done.message ?? "")
            XCTAssertTrue(done.ab)
            let grid = try XCTUnwrap(done.files.first { $0.kind == "image" }).name
            let one = try decode(JobStatus.self, try await client.submit(["pipeline": "enlarge", "inputs": ["image": dataURL(try testPicture())],
                                                                          "variant": "bilinear", "seed": 4]))
            let oneDone = try await client.waitForJob(one.id)
            let single = oneDone.files[0].name

            let history = try await client.execute(uri: "/api/history", method: .get) { try decode([HistoryEntry].self, $0) }
            XCTAssertEqual(Set(history.map(\.file)), [grid, single])
            let entry = try XCTUnwrap(history.first { $0.file == single })
            XCTAssertEqual(entry.pipeline, "enlarge")
            XCTAssertEqual(entry.variant, "bilinear")
            XCTAssertEqual(entry.seed, 4)
            XCTAssertTrue(entry.inputs["image"]?.hasPrefix("upload-") ?? false, "\(entry.inputs)")
            XCTAssertNotNil(entry.report)
            // The uploaded picture is served back by the name the history shows.
            try await client.execute(uri: "/uploads/\(entry.inputs["image"] ?? "")", method: .get) { r in
                XCTAssertEqual(r.status, .ok)
                XCTAssertEqual(r.headers[.contentType], "image/png")
                XCTAssertEqual(try PNGCodec.decode(Data(r.body.readableBytesView)), try PNGCodec.decode(try testPicture()))
            }

            // One click reruns it: the same image again.
            for (file, ab) in [(single, false), (grid, true)] {
                let again = try await client.execute(uri: "/api/history/\(file)/rerun", method: .post)
                XCTAssertEqual(again.status, .accepted, errorMessage(again))
                let rerun = try await client.waitForJob(try decode(JobStatus.self, again).id)
                XCTAssertEqual(rerun.ab, ab)
                let images = try await [file, rerun.files[0].name].asyncMap { name in
                    try await client.execute(uri: "/files/\(name)", method: .get) { try PNGCodec.decode(Data($0.body.readableBytesView)) }
                }
                XCTAssertEqual(images[0], images[1], file)
            }

            // A rerun keeps the seed (slow's image depends on it).
            let seeded = try decode(JobStatus.self, try await client.submit(["pipeline": "slow", "seed": 9]))
            let seededDone = try await client.waitForJob(seeded.id)
            let seededAgain = try await client.execute(uri: "/api/history/\(seededDone.files[0].name)/rerun", method: .post)
            let seededRerun = try await client.waitForJob(try decode(JobStatus.self, seededAgain).id)
            XCTAssertEqual(seededRerun.seed, 9)
            let seededImages = try await [seededDone.files[0].name, seededRerun.files[0].name].asyncMap { name in
                try await client.execute(uri: "/files/\(name)", method: .get) { try PNGCodec.decode(Data($0.body.readableBytesView)) }
            }
            XCTAssertEqual(seededImages[0], seededImages[1])
            let defaultSeed = try decode(JobStatus.self, try await client.submit(["pipeline": "slow"]))
            let defaultImage = try await client.execute(uri: "/files/\(try await client.waitForJob(defaultSeed.id).files[0].name)", method: .get) {
                try PNGCodec.decode(Data($0.body.readableBytesView))
            }
            XCTAssertNotEqual(defaultImage, seededImages[0], "seed 9 is not the default seed 5")

            // Refused reruns: a bad name, a missing file, a PNG without provenance, a
            // pipeline outside the folder, an input outside the uploads folder.
            let got5 = try await client.execute(uri: "/api/history/..%2Fx.png/rerun", method: .post).status
            XCTAssertEqual(got5, .badRequest)
            let got6 = try await client.execute(uri: "/api/history/missing.png/rerun", method: .post).status
            XCTAssertEqual(got6, .notFound)
            try testPicture().write(to: fixture.settings.outputFolder.appendingPathComponent("plain.png"))
            try await client.execute(uri: "/api/history/plain.png/rerun", method: .post) { r in
                XCTAssertEqual(r.status, .badRequest)
                XCTAssertTrue(errorMessage(r).contains("muse:run"), errorMessage(r))
            }
            let elsewhere = RunProvenance(pipeline: "/etc/other.yaml", inputs: [:], sets: [], seed: 0, variant: nil, output: nil)
            try PNGTextChunks.insert([(RunProvenance.keyword, try elsewhere.json())], into: try testPicture())
                .write(to: fixture.settings.outputFolder.appendingPathComponent("elsewhere.png"))
            let got7 = try await client.execute(uri: "/api/history/elsewhere.png/rerun", method: .post).status
            XCTAssertEqual(got7, .forbidden)
            let withSets = RunProvenance(pipeline: fixture.pipelines.appendingPathComponent("slow.yaml").path, inputs: [:],
                                         sets: ["work.step_ms=1"], seed: 0, variant: nil, output: "image")
            try PNGTextChunks.insert([(RunProvenance.keyword, try withSets.json())], into: try testPicture())
                .write(to: fixture.settings.outputFolder.appendingPathComponent("sets.png"))
            let setsRerun = try await client.execute(uri: "/api/history/sets.png/rerun", method: .post)
            XCTAssertEqual(setsRerun.status, .forbidden, "config overrides are not rerun from the page")
            let outside = RunProvenance(pipeline: fixture.pipelines.appendingPathComponent("enlarge.yaml").path, inputs: ["image": "/etc/hostname"],
                                        sets: [], seed: 0, variant: "nearest", output: "image")
            try PNGTextChunks.insert([(RunProvenance.keyword, try outside.json())], into: try testPicture())
                .write(to: fixture.settings.outputFolder.appendingPathComponent("outside.png"))
            try await client.execute(uri: "/api/history/outside.png/rerun", method: .post) { r in
                XCTAssertEqual(r.status, .forbidden)
                XCTAssertTrue(errorMessage(r).contains("outside the server's uploads folder"), errorMessage(r))
            }
        }
    }

    func testFilesStayInTheOutputFolder() async throws {
        let fixture = try ServeFixture()
        let app = try fixture.app()
        try "TOP-SECRET-CONTENT".write(to: fixture.root.appendingPathComponent("secret.txt"), atomically: true, encoding: .utf8)
        try "x".write(to: fixture.settings.outputFolder.appendingPathComponent(".hidden"), atomically: true, encoding: .utf8)
        try await app.application(host: "127.0.0.1", port: 0).test(.router) { client in
            for bad in ["..%2Fsecret.txt", "%2E%2E%2Fsecret.txt", ".hidden", "a%00b.png", "%2Fetc%2Fpasswd"] {
                for route in ["files", "uploads"] {
                    let r = try await client.execute(uri: "/\(route)/\(bad)", method: .get)
                    XCTAssertEqual(r.status, .badRequest, "/\(route)/\(bad): \(errorMessage(r))")
                    XCTAssertFalse(String(buffer: r.body).contains("TOP-SECRET"))
                }
            }
            let got8 = try await client.execute(uri: "/files/missing.png", method: .get).status
            XCTAssertEqual(got8, .notFound)
            // A link inside the output folder is not followed.
            try FileManager.default.createSymbolicLink(at: fixture.settings.outputFolder.appendingPathComponent("link.txt"),
                                                       withDestinationURL: fixture.root.appendingPathComponent("secret.txt"))
            let link = try await client.execute(uri: "/files/link.txt", method: .get)
            XCTAssertEqual(link.status, .notFound)
            XCTAssertFalse(String(buffer: link.body).contains("TOP-SECRET"))
            let got9 = try await client.execute(uri: "/files/uploads", method: .get).status
            XCTAssertEqual(got9, .notFound, "a folder is not a file")
            let got10 = try await client.execute(uri: "/files/a/b", method: .get).status
            XCTAssertEqual(got10, .notFound)
        }
    }

    func testBadRequests() async throws {
        let fixture = try ServeFixture(maxUploadBytes: 2048, maxUploadPixels: 32 * 32)
        let app = try fixture.app()
        let picture = try testPicture(), mask = try testMask()
        let truncated = picture.prefix(picture.count - 20)
        var corrupt = picture
        corrupt[corrupt.count / 2] ^= 0xFF
        let big = try testPicture(width: 40, height: 40)
        var noisy: [Float] = []
        var rng = SeededRNG(seed: 1)
        for _ in 0..<(32 * 32 * 3) { noisy.append(Float(rng.uniformDouble())) }
        let heavy = try PNGCodec.encode(Image(width: 32, height: 32, pixels: noisy))
        XCTAssertGreaterThan(heavy.count, 2048)
        XCTAssertLessThan(try testPicture().count, 2048)

        @Sendable func pixelate(image: String, mask: String = dataURL(mask)) -> [String: Any] {
            ["pipeline": "pixelate", "inputs": ["image": image, "mask": mask]]
        }
        let cases: [(String, [String: Any], HTTPResponse.Status, String)] = [
            ("not base64", pixelate(image: "data:image/png;base64,@@@@"), .badRequest, "not base64"),
            ("not a PNG", pixelate(image: dataURL(Data("GIF89a not a png at all, really".utf8))), .badRequest, "not a PNG"),
            ("a JPEG data URL", pixelate(image: "data:image/jpeg;base64,AAAA"), .badRequest, "must be a PNG"),
            ("truncated PNG", pixelate(image: dataURL(Data(truncated))), .badRequest, "does not decode"),
            ("corrupt PNG", pixelate(image: dataURL(corrupt)), .badRequest, "does not decode"),
            ("too many pixels", pixelate(image: dataURL(big)), .contentTooLarge, "1600 pixels"),
            ("too many bytes", pixelate(image: dataURL(heavy)), .contentTooLarge, "2048"),
            ("unknown pipeline", ["pipeline": "nope"], .notFound, "no pipeline 'nope'"),
            ("a path for a pipeline", ["pipeline": "../pipelines/slow"], .notFound, "no pipeline"),
            ("unknown input", ["pipeline": "slow", "inputs": ["nots": "x"]], .badRequest, "did you mean 'note'"),
            ("missing required input", ["pipeline": "pixelate", "inputs": ["image": dataURL(picture)]], .badRequest, "input 'mask' is required"),
            ("bad scalar", ["pipeline": "slow", "inputs": ["seed": "many"]], .badRequest, "must be a number"),
            ("bad seed", ["pipeline": "slow", "seed": "-3"], .badRequest, "whole number"),
            ("seed too big", ["pipeline": "slow", "seed": "18446744073709551615"], .badRequest, "below 2^63"),
            ("unknown variant", ["pipeline": "enlarge", "inputs": ["image": dataURL(picture)], "variant": "bicubic"], .badRequest, "no variant 'bicubic'"),
            ("no variant chosen", ["pipeline": "enlarge", "inputs": ["image": dataURL(picture)]], .badRequest, "choose one"),
            ("A/B without variants", ["pipeline": "slow", "ab": true], .badRequest, "no variants"),
            ("a pipeline that does not parse", ["pipeline": "broken"], .badRequest, "does not load"),
            ("wrong field type", ["pipeline": 3], .badRequest, "wrong type"),
            ("no pipeline", ["inputs": [:]], .badRequest, "'pipeline' is missing"),
        ]
        try await app.application(host: "127.0.0.1", port: 0).test(.router) { client in
            for (what, body, status, message) in cases {
                let r = try await client.submit(body)
                XCTAssertEqual(r.status, status, "\(what): \(errorMessage(r))")
                XCTAssertTrue(errorMessage(r).contains(message), "\(what): '\(errorMessage(r))' should say '\(message)'")
            }
            for raw in ["", "{", "[1,2]", "null"] {
                let r = try await client.execute(uri: "/api/jobs", method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: raw))
                XCTAssertEqual(r.status, .badRequest, raw)
            }
            // A run is JSON: a form post (what another site's page can send unasked) is refused.
            let form = try await client.execute(uri: "/api/jobs", method: .post, headers: [.contentType: "text/plain"], body: try jsonBody(["pipeline": "slow"]))
            XCTAssertEqual(form.status, .unsupportedMediaType)
            XCTAssertTrue(errorMessage(form).contains("application/json"), errorMessage(form))
            // A very long name (within the request limit) is refused quickly, without echoing it back.
            let long = String(repeating: "x", count: 200_000)
            for body in [["pipeline": long], ["pipeline": "slow", "inputs": [long: "1"]], ["pipeline": "enlarge", "variant": long]] as [[String: Any]] {
                let r = try await client.submit(body)
                XCTAssertTrue(r.status == .notFound || r.status == .badRequest, "\(r.status)")
                XCTAssertLessThan(r.body.readableBytes, 1000)
            }
            // An empty required text is missing, not an empty prompt.
            try """
            version: 1
            inputs:
              words: {type: text, doc: some words}
            stages:
              work: {kind: test.slow, config: {steps: 1, step_ms: 1}}
            outputs:
              image: work.image
            """.write(to: fixture.pipelines.appendingPathComponent("words.yaml"), atomically: true, encoding: .utf8)
            let empty = try await client.submit(["pipeline": "words", "inputs": ["words": "  "]])
            XCTAssertEqual(empty.status, .badRequest)
            XCTAssertTrue(errorMessage(empty).contains("input 'words' is required"), errorMessage(empty))
            // A refused submission stores nothing, even a valid picture of its own.
            let unique = try testPicture(width: 15, height: 15)
            let refused = try await client.submit(["pipeline": "enlarge", "inputs": ["image": dataURL(unique)], "variant": "bicubic"])
            XCTAssertEqual(refused.status, .badRequest)
            let huge = ByteBuffer(repeating: UInt8(ascii: "a"), count: fixture.settings.maxRequestBytes + 1)
            let got11 = try await client.execute(uri: "/api/jobs", method: .post, headers: [.contentType: "application/json"], body: huge).status
            XCTAssertEqual(got11, .contentTooLarge)
            // Nothing bad was stored, and the server still runs good requests.
            let stored = (try? FileManager.default.contentsOfDirectory(atPath: fixture.settings.uploadsFolder.path)) ?? []
            XCTAssertEqual(stored, [], "nothing from refused submissions is kept: \(stored)")
            let good = try await client.submit(pixelate(image: dataURL(picture)))
            XCTAssertEqual(good.status, .accepted, errorMessage(good))
            let got12 = try await client.waitForJob(try decode(JobStatus.self, good).id).state
            XCTAssertEqual(got12, .done)
        }
    }

    /// Queue size 0: a run is taken when none is running, refused while one is.
    /// Once the output folder holds --max-output-bytes, runs and reruns are refused
    /// with 507 and a message naming the limit; below it they are taken.
    func testFullOutputFolderIsRefused() async throws {
        var fixture = try ServeFixture()
        let app = try fixture.app()
        var rerunFile = ""
        try await app.application(host: "127.0.0.1", port: 0).test(.router) { client in
            let first = try await client.submit(["pipeline": "slow"])
            XCTAssertEqual(first.status, .accepted, errorMessage(first))
            let done = try await client.waitForJob(try decode(JobStatus.self, first).id)
            XCTAssertEqual(done.state, .done, done.message ?? "")
            rerunFile = try XCTUnwrap(done.files.first { $0.kind == "image" }).name
        }
        let used = OutputFolder.usage(fixture.settings)
        let png = try FileManager.default.attributesOfItem(atPath: fixture.settings.outputFolder.appendingPathComponent(rerunFile).path)[.size] as? Int
        XCTAssertGreaterThanOrEqual(used, try XCTUnwrap(png), "the result counts")
        for (limit, refused) in [(used, true), (used + 1, false)] {
            fixture.settings.maxOutputBytes = limit
            let limited = try fixture.app()
            try await limited.application(host: "127.0.0.1", port: 0).test(.router) { client in
                let run = try await client.submit(["pipeline": "slow"])
                let rerun = try await client.execute(uri: "/api/history/\(rerunFile)/rerun", method: .post)
                for response in [run, rerun] {
                    if refused {
                        XCTAssertEqual(response.status.code, 507)
                        XCTAssertTrue(errorMessage(response).contains("--max-output-bytes"), errorMessage(response))
                        XCTAssertTrue(errorMessage(response).contains(fixture.settings.outputFolder.path), errorMessage(response))
                    } else {
                        XCTAssertEqual(response.status, .accepted, errorMessage(response))
                        _ = try await client.waitForJob(try decode(JobStatus.self, response).id)
                    }
                }
            }
        }
    }

    func testQueueSizeZero() async throws {
        let fixture = try ServeFixture(queueCapacity: 0)
        let app = try fixture.app()
        try await app.application(host: "127.0.0.1", port: 0).test(.router) { client in
            let first = try await client.submit(["pipeline": "slow"])
            XCTAssertEqual(first.status, .accepted, errorMessage(first))
            let id = try decode(JobStatus.self, first).id
            try await client.waitUntilRunning(id)
            let second = try await client.submit(["pipeline": "slow"])
            XCTAssertEqual(second.status, .serviceUnavailable)
            let firstDone = try await client.waitForJob(id)
            XCTAssertEqual(firstDone.state, .done)
            let third = try await client.submit(["pipeline": "slow"])
            XCTAssertEqual(third.status, .accepted, "idle again: taken")
            let thirdDone = try await client.waitForJob(try decode(JobStatus.self, third).id)
            XCTAssertEqual(thirdDone.state, .done)
        }
        XCTAssertEqual(app.queue.mostWaiting, 1)
    }

    /// Requests that another site makes through the user's browser are refused: a
    /// foreign Host (DNS rebinding), a foreign Origin, a run that is not JSON.
    func testOtherSitesAreRefused() async throws {
        let gate = SameOriginMiddleware(allowedHosts: ["studio.local"])
        for host in ["127.0.0.1:8080", "localhost:8080", "LOCALHOST", "[::1]:8080", "studio.local", "studio.local:80"] {
            XCTAssertNil(gate.refusal(authority: host, origin: nil, isRunSubmission: false, contentType: nil), host)
        }
        for host in ["attacker.example:8080", "attacker.example", "127.0.0.1.attacker.example", "[::2]:8080"] {
            let r = gate.refusal(authority: host, origin: nil, isRunSubmission: false, contentType: nil)
            XCTAssertEqual(r?.status, 403, host)
            XCTAssertTrue(r?.message.contains("--allow-host") ?? false)
        }
        XCTAssertEqual(gate.refusal(authority: nil, origin: "https://attacker.example", isRunSubmission: false, contentType: nil)?.status, 403)
        XCTAssertEqual(gate.refusal(authority: nil, origin: "null", isRunSubmission: false, contentType: nil)?.status, 403)
        XCTAssertNil(gate.refusal(authority: "127.0.0.1:9", origin: "http://127.0.0.1:9", isRunSubmission: true, contentType: "application/json; charset=utf-8"))
        XCTAssertEqual(gate.refusal(authority: "127.0.0.1:9", origin: nil, isRunSubmission: true, contentType: "text/plain")?.status, 415)

        // Through the routes (the test client's Host is localhost; Origin is up to the request).
        let fixture = try ServeFixture()
        let app = try fixture.app()
        try await app.application(host: "127.0.0.1", port: 0).test(.router) { client in
            let body = try jsonBody(["pipeline": "slow"])
            let foreign = try await client.execute(uri: "/api/jobs", method: .post,
                                                  headers: [.contentType: "application/json", .origin: "https://attacker.example"], body: body)
            XCTAssertEqual(foreign.status, .forbidden)
            XCTAssertTrue(errorMessage(foreign).contains("another site"), errorMessage(foreign))
            let history = try await client.execute(uri: "/api/history", method: .get, headers: [.origin: "https://attacker.example"])
            XCTAssertEqual(history.status, .forbidden)
            let sandboxed = try await client.execute(uri: "/api/jobs/1-0/cancel", method: .post, headers: [.origin: "null"])
            XCTAssertEqual(sandboxed.status, .forbidden)
            XCTAssertEqual(app.queue.waiting, 0, "nothing was queued")
            let own = try await client.execute(uri: "/api/jobs", method: .post,
                                              headers: [.contentType: "application/json", .origin: "http://localhost:8080"], body: body)
            XCTAssertEqual(own.status, .accepted, errorMessage(own))
            let done = try await client.waitForJob(try decode(JobStatus.self, own).id)
            XCTAssertEqual(done.state, .done)
        }
    }

    /// A pipeline that fails while running fails its job with the reason; the
    /// worker goes on with the next one.
    func testFailedRunReportsItsError() async throws {
        let fixture = try ServeFixture()
        try """
        version: 1
        inputs:
          image: {type: image, doc: the picture}
        stages:
          big: {kind: image.resize, config: {width: 0, height: 32}, inputs: {image: input.image}}
        outputs:
          image: big.image
        """.write(to: fixture.pipelines.appendingPathComponent("invalid.yaml"), atomically: true, encoding: .utf8)
        let app = try fixture.app()
        try await app.application(host: "127.0.0.1", port: 0).test(.router) { client in
            let job = try decode(JobStatus.self, try await client.submit(["pipeline": "invalid", "inputs": ["image": dataURL(try testPicture())]]))
            let failed = try await client.waitForJob(job.id)
            XCTAssertEqual(failed.state, .failed)
            XCTAssertTrue(failed.message?.contains("invalid.yaml:") ?? false, failed.message ?? "")
            let next = try decode(JobStatus.self, try await client.submit(["pipeline": "slow"]))
            let got13 = try await client.waitForJob(next.id).state
            XCTAssertEqual(got13, .done)
        }
    }
}

extension Array {
    func asyncMap<T>(_ f: (Element) async throws -> T) async rethrows -> [T] {
        var out: [T] = []
        for x in self { out.append(try await f(x)) }
        return out
    }
}
