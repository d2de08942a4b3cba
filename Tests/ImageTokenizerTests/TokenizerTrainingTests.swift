import XCTest
import MuseTestSupport
import Foundation
import MuseCore
import MuseEngine

/// `muse-train tokenizer` as a process: killed at random moments, the resumed run
/// must end with exactly the weights of a run that was never interrupted.
final class TokenizerTrainingTests: XCTestCase {
    static let productsFolder: URL = {
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        if dir.pathExtension == "xctest" { dir = dir.deletingLastPathComponent() }
        return dir
    }()
    var museTrain: String { Self.productsFolder.appendingPathComponent("muse-train").path }

    /// A tiny config: crops for the first steps, then full images; scenes and (half the
    /// examples) the 7 pictures of the test's own emoji-format data set `emoji/`.
    let config = """
    codebook_name: test-book
    seed: 5
    model:
      width: 4
      channel_multipliers: [1, 2, 2]
      encoder_blocks: 1
      decoder_blocks: 1
      groups: 2
      quantizer: fsq
      fsq_levels: [5, 3]
    data:
      emoji: emoji
      emoji_fraction: 0.5
      scene_seed: 11
    training:
      batch_size: 2
      crop_batch_size: 4
      crop_size: 32
      crop_images: 40
      lr: 0.002
      warmup_images: 8
      total_images: 100000
    """

    /// A fresh folder holding a tiny data set in the emoji layout (dataset.json,
    /// manifest.jsonl, 64/*.png; 7 training pictures and 1 held out).
    func folder() throws -> URL {
        let u = FileManager.default.temporaryDirectory.appendingPathComponent("tok-train-\(UUID().uuidString)")
        let data = u.appendingPathComponent("emoji")
        try FileManager.default.createDirectory(at: data.appendingPathComponent("64"), withIntermediateDirectories: true)
        try #"{"kind": "emoji", "version": 1}"#.write(to: data.appendingPathComponent("dataset.json"), atomically: true, encoding: .utf8)
        var manifest = ""
        for i in 0..<8 {
            let px = (0..<(64 * 64 * 3)).map { j in Float((j / 3 * (i + 1) + j % 3 * 50) % 256) / 255 }
            try PNGCodec.write(Image(width: 64, height: 64, pixels: px), to: data.appendingPathComponent("64/\(i).png"))
            manifest += #"{"file": "\#(i).png", "captions": ["picture \#(i)"], "split": "\#(i == 7 ? "eval" : "train")"}"# + "\n"
        }
        try manifest.write(to: data.appendingPathComponent("manifest.jsonl"), atomically: true, encoding: .utf8)
        return u
    }

    func testKilledRunsResumeToTheSameWeights() throws {
        guard FileManager.default.fileExists(atPath: museTrain) else {
            XCTFail("\(museTrain) is missing: build all products first (`swift build --build-tests`)"); return
        }
        let dir = try folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let cfg = dir.appendingPathComponent("tok.yaml")
        try config.write(to: cfg, atomically: true, encoding: .utf8)
        let steps = 30
        let common = ["tokenizer", "--config", cfg.path, "--max-steps", "\(steps)", "--no-eval", "--checkpoint-every", "0"]

        let straight = dir.appendingPathComponent("straight")
        let p = try startQuietly(executable: museTrain, arguments: common + ["--run", straight.path])
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0)

        // Kill with SIGKILL (no chance to save) at random moments: after a random number (1-6)
        // of new steps appears in the loss log, plus a random 0-40 ms, until the run completes.
        let killed = dir.appendingPathComponent("killed")
        let lossLog = killed.appendingPathComponent("loss.csv")
        func loggedSteps() -> Int {
            ((try? String(contentsOf: lossLog, encoding: .utf8)) ?? "").split(separator: "\n").count - 1
        }
        let kills = try runKilledAtRandom(executable: museTrain, arguments: common + ["--run", killed.path], loggedSteps: loggedSteps,
                                          seed: 2024, stepsAhead: 6, extraMilliseconds: 40, startTimeout: 60)
        XCTAssertGreaterThanOrEqual(kills, 2, "the run finished before it could be killed twice; make it longer")
        let a = try checkpointTensors(straight.appendingPathComponent("state.safetensors"))
        let b = try checkpointTensors(killed.appendingPathComponent("state.safetensors"))
        XCTAssertEqual(a.keys.sorted(), b.keys.sorted())
        for (k, v) in a { XCTAssertEqual(v, b[k], "tensor \(k) differs after \(kills) kills") }
        let stepA = try CheckpointReader(straight.appendingPathComponent("state.safetensors")).ints("train.step")
        let stepB = try CheckpointReader(killed.appendingPathComponent("state.safetensors")).ints("train.step")
        XCTAssertEqual(stepA, [Int64(steps)]); XCTAssertEqual(stepB, [Int64(steps)])
        // Both kinds of data were used, and the data positions agree.
        let metaA = try CheckpointReader(straight.appendingPathComponent("state.safetensors")).metadata["train.data"]
        let metaB = try CheckpointReader(killed.appendingPathComponent("state.safetensors")).metadata["train.data"]
        let position = try JSONSerialization.jsonObject(with: Data((metaA ?? "{}").utf8)) as? [String: Any]
        let positionB = try JSONSerialization.jsonObject(with: Data((metaB ?? "{}").utf8)) as? [String: Any]
        XCTAssertEqual(position.map { NSDictionary(dictionary: $0) }, positionB.map { NSDictionary(dictionary: $0) })
        let emoji = position?["emoji"] as? [String: Any]
        XCTAssertGreaterThan((emoji?["epoch"] as? Int ?? 0) * 7 + (emoji?["position"] as? Int ?? 0), 0, "no emoji were drawn: \(metaA ?? "")")
        XCTAssertGreaterThan(position?["sceneIndex"] as? Int ?? 0, 0, "no scenes were drawn: \(metaA ?? "")")
        // The loss log of the killed run holds each step once.
        let log = try String(contentsOf: killed.appendingPathComponent("loss.csv"), encoding: .utf8)
        let stepsLogged = log.split(separator: "\n").dropFirst().map { Int($0.split(separator: ",")[0])! }
        XCTAssertEqual(stepsLogged, Array(1...steps))
    }

    /// Exporting from a run folder with no state (a typo in --run) is an error, not random weights.
    func testExportWithoutStateIsRefused() throws {
        guard FileManager.default.fileExists(atPath: museTrain) else { XCTFail("\(museTrain) is missing"); return }
        let dir = try folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let cfg = dir.appendingPathComponent("tok.yaml")
        try config.write(to: cfg, atomically: true, encoding: .utf8)
        let out = dir.appendingPathComponent("w.safetensors")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: museTrain)
        p.arguments = ["tokenizer", "--config", cfg.path, "--run", dir.appendingPathComponent("typo").path,
                       "--max-steps", "0", "--no-eval", "--export-weights", out.path]
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 1)
        XCTAssertTrue(text.contains("nothing trained to export"), text)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.path))
    }

    func testConfigErrorsNameTheLine() throws {
        guard FileManager.default.fileExists(atPath: museTrain) else { XCTFail("\(museTrain) is missing"); return }
        let dir = try folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        for (text, expect) in [("model:\n  widht: 4\n", "2:3: unknown key 'model.widht'"),
                               ("training:\n  lr: fast\n", "2:7: 'lr' must be a number"),
                               ("model:\n  quantizer: pq\n", "model.quantizer 'pq'")] {
            let cfg = dir.appendingPathComponent("bad.yaml")
            try text.write(to: cfg, atomically: true, encoding: .utf8)
            let p = Process()
            p.executableURL = URL(fileURLWithPath: museTrain)
            p.arguments = ["tokenizer", "--config", cfg.path, "--run", dir.appendingPathComponent("r").path, "--no-eval"]
            let err = Pipe()
            p.standardError = err
            p.standardOutput = FileHandle.nullDevice
            try p.run()
            let data = err.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            XCTAssertEqual(p.terminationStatus, 1)
            XCTAssertTrue(String(decoding: data, as: UTF8.self).contains(expect), "\(String(decoding: data, as: UTF8.self)) lacks \(expect)")
        }
    }
}
