import XCTest
import MuseTestSupport
import Foundation
import MuseCore
import MuseEngine

/// `muse-train base` as a process on a tiny pool (40 scenes, 7 pictures in the emoji
/// layout, the real text encoder and the shipped 64 px tokenizer): killed at random
/// moments, the resumed run must end with exactly the weights of an uninterrupted one.
final class BaseTrainingTests: XCTestCase {
    static let productsFolder: URL = {
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        if dir.pathExtension == "xctest" { dir = dir.deletingLastPathComponent() }
        return dir
    }()
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    var museTrain: String { Self.productsFolder.appendingPathComponent("muse-train").path }

    func config(_ dir: URL) -> String {
        """
        seed: 4
        model: {width: 16, depth: 1, heads: 2, mlp_ratio: 2, max_text_tokens: 12}
        data:
          tokenizer: \(Self.root.path)/Weights/tokenizer-64.safetensors
          text_encoder: \(Self.root.path)/.cache/text-encoder/all-MiniLM-L6-v2
          cache: \(dir.path)/cache
          scenes: 40
          scene_seed: 3
          emoji: emoji
        training: {batch_size: 6, micro_batch: 4, warmup_steps: 3, total_steps: 1000, snapshots_kept: 3}
        """
    }

    /// A fresh folder with a tiny data set in the emoji layout (7 training pictures, 1 held out).
    func folder() throws -> URL {
        let u = FileManager.default.temporaryDirectory.appendingPathComponent("base-train-\(UUID().uuidString)")
        let data = u.appendingPathComponent("emoji")
        try FileManager.default.createDirectory(at: data.appendingPathComponent("64"), withIntermediateDirectories: true)
        try #"{"kind": "emoji", "version": 1}"#.write(to: data.appendingPathComponent("dataset.json"), atomically: true, encoding: .utf8)
        var manifest = ""
        for i in 0..<8 {
            let px = (0..<(64 * 64 * 3)).map { j in Float((j / 3 * (i + 1) + j % 3 * 50) % 256) / 255 }
            try PNGCodec.write(Image(width: 64, height: 64, pixels: px), to: data.appendingPathComponent("64/\(i).png"))
            manifest += #"{"file": "\#(i).png", "captions": ["picture \#(i)", "pattern number \#(i)"], "split": "\#(i == 7 ? "eval" : "train")"}"# + "\n"
        }
        try manifest.write(to: data.appendingPathComponent("manifest.jsonl"), atomically: true, encoding: .utf8)
        try config(u).write(to: u.appendingPathComponent("base.yaml"), atomically: true, encoding: .utf8)
        return u
    }

    func run(_ args: [String]) throws -> (status: Int32, stderr: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: museTrain)
        p.arguments = args
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        return (p.terminationStatus, text)
    }


    func requirements() throws {
        guard FileManager.default.fileExists(atPath: museTrain) else { throw XCTSkip("\(museTrain) is missing: build all products first") }
        guard FileManager.default.fileExists(atPath: Self.root.appendingPathComponent(".cache/text-encoder/all-MiniLM-L6-v2/model.safetensors").path) else {
            XCTFail("the text encoder is missing: run scripts/fetch-text-encoder.sh (scripts/test.sh does)"); throw XCTSkip("no text encoder")
        }
    }

    func testKilledRunsResumeToTheSameWeights() throws {
        try requirements()
        let dir = try folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let steps = 24
        let common = ["base", "--config", dir.appendingPathComponent("base.yaml").path, "--max-steps", "\(steps)", "--no-eval", "--checkpoint-every", "0"]
        let straight = dir.appendingPathComponent("straight")
        let s = try run(common + ["--run", straight.path])
        XCTAssertEqual(s.status, 0, s.stderr)
        XCTAssertTrue(s.stderr.contains("pool: 47 images (40 scenes, 7 emoji)"), s.stderr)

        let killed = dir.appendingPathComponent("killed")
        let lossLog = killed.appendingPathComponent("loss.csv")
        func loggedSteps() -> Int { ((try? String(contentsOf: lossLog, encoding: .utf8)) ?? "").split(separator: "\n").count - 1 }
        let kills = try runKilledAtRandom(executable: museTrain, arguments: common + ["--run", killed.path], loggedSteps: loggedSteps,
                                          seed: 77, stepsAhead: 5, extraMilliseconds: 30, startTimeout: 120)
        XCTAssertGreaterThanOrEqual(kills, 2, "the run finished before it could be killed twice; make it longer")
        let a = try checkpointTensors(straight.appendingPathComponent("state.safetensors"))
        let b = try checkpointTensors(killed.appendingPathComponent("state.safetensors"))
        XCTAssertEqual(a.keys.sorted(), b.keys.sorted())
        XCTAssertTrue(a.keys.contains("optimizer.m.head.weight"))
        for (k, v) in a { XCTAssertEqual(v, b[k], "tensor \(k) differs after \(kills) kills") }
        let ra = try CheckpointReader(straight.appendingPathComponent("state.safetensors"))
        let rb = try CheckpointReader(killed.appendingPathComponent("state.safetensors"))
        XCTAssertEqual(try ra.ints("train.step"), [Int64(steps)])
        XCTAssertEqual(try rb.ints("train.step"), [Int64(steps)])
        XCTAssertEqual(ra.metadata["train.data"], rb.metadata["train.data"])
        XCTAssertEqual(ra.metadata["train.samples_seen"], "\(steps * 6)")
        let log = try String(contentsOf: lossLog, encoding: .utf8)
        XCTAssertEqual(log.split(separator: "\n").dropFirst().map { Int($0.split(separator: ",")[0])! }, Array(1...steps))

        // Export: the final weights, and the checkpoint EMA of the snapshots; both load.
        let out = dir.appendingPathComponent("w.safetensors")
        let e = try run(common.map { $0 == "\(steps)" ? "\(steps + 2)" : $0 } + ["--run", straight.path, "--export-weights", out.path, "--ema", "2"])
        XCTAssertEqual(e.status, 0, e.stderr)
        let w = try CheckpointReader(out)
        XCTAssertEqual(w.metadata["muse.kind"], "base-transformer")
        XCTAssertTrue(w.metadata["muse.ema"]?.contains("decay 0.7 over 2 snapshots") ?? false, "\(w.metadata)")
        XCTAssertEqual(w.dtype(of: "head.weight"), .f16)
    }

    func testExportWithoutStateAndConfigErrorsAreRefused() throws {
        try requirements()
        let dir = try folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("w.safetensors")
        let e = try run(["base", "--config", dir.appendingPathComponent("base.yaml").path, "--run", dir.appendingPathComponent("typo").path,
                         "--max-steps", "0", "--no-eval", "--export-weights", out.path])
        XCTAssertEqual(e.status, 1)
        XCTAssertTrue(e.stderr.contains("nothing trained to export"), e.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.path))
        for (text, expect) in [("model:\n  widht: 4\n", "2:3: unknown key 'model.widht'"),
                               ("training:\n  masking: random\n", "training.masking 'random'"),
                               ("model:\n  width: 30\n  heads: 4\n", "heads 4 must divide width 30")] {
            let cfg = dir.appendingPathComponent("bad.yaml")
            try text.write(to: cfg, atomically: true, encoding: .utf8)
            let r = try run(["base", "--config", cfg.path, "--run", dir.appendingPathComponent("r").path, "--no-eval"])
            XCTAssertEqual(r.status, 1)
            XCTAssertTrue(r.stderr.contains(expect), "\(r.stderr) lacks \(expect)")
        }
    }
}
