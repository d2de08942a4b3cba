import XCTest
import Foundation
import MuseCore
@testable import MuseEngine

/// Regression inputs from mutation testing (issue 16): checkpoints and weights
/// that must be refused quickly with a clear message.
final class CheckpointInputTests: XCTestCase {
    var tmp: URL!

    override func setUpWithError() throws {
        tmp = FileManager.default.temporaryDirectory.appendingPathComponent("muse-ckpt-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: tmp) }

    func write(_ tensors: [String: [Float]], metadata: [String: String] = [:], to name: String) throws -> URL {
        var w = SafeTensorsWriter()
        w.metadata = metadata
        for (k, v) in tensors { try w.add(k, v, shape: [v.count]) }
        let url = tmp.appendingPathComponent(name)
        try w.write(to: url)
        return url
    }

    /// `muse.shards` = Int.max used to build Int.max - 1 shard names before opening
    /// anything (a hang). Now refused at once, with or without `muse.shard_files`.
    func testHugeShardCountIsRefusedAtOnce() throws {
        let t0 = Date()
        for meta in [["muse.shards": "9223372036854775807"],
                     ["muse.shards": "9223372036854775807", "muse.shard_files": "[\"x.safetensors\"]"],
                     ["muse.shards": "10001"]] {
            let url = try write(["w": [1, 2]], metadata: meta, to: "huge.safetensors")
            XCTAssertThrowsError(try CheckpointReader(url)) { e in
                XCTAssertTrue("\(e)".contains("more than the 10000 shards"), "\(e)")
            }
        }
        // A plausible count whose shards are absent fails at the first missing one.
        let url = try write(["w": [1, 2]], metadata: ["muse.shards": "10000"], to: "absent.safetensors")
        XCTAssertThrowsError(try CheckpointReader(url)) { e in
            XCTAssertTrue("\(e)".contains("checkpoint shard 2 of 10000 unreadable") && "\(e)".contains("not found"), "\(e)")
        }
        XCTAssertLessThan(Date().timeIntervalSince(t0), 1)
        // muse-train ema goes through the same reader.
        let good = try write(["w": [1, 2]], to: "good.safetensors")
        XCTAssertThrowsError(try CheckpointEMA.average([good, url], decay: 0.7, output: tmp.appendingPathComponent("o.safetensors")))
    }

    /// A weight present only in a later checkpoint is an error, like one missing from it.
    func testEMAExtraOrMissingTensorIsAnError() throws {
        let a = try write(["w": [1, 2]], to: "a.safetensors")
        let b = try write(["w": [3, 4], "extra.weight": [5]], to: "b.safetensors")
        let out = tmp.appendingPathComponent("ema.safetensors")
        XCTAssertThrowsError(try CheckpointEMA.average([a, b], decay: 0.7, output: out)) { e in
            XCTAssertTrue("\(e)".contains("tensor 'extra.weight' is not in \(a.path)"), "\(e)")
        }
        XCTAssertThrowsError(try CheckpointEMA.average([b, a], decay: 0.7, output: out)) { e in
            XCTAssertTrue("\(e)".contains("missing tensor 'extra.weight'"), "\(e)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.path))
        // Training state that differs between checkpoints is still ignored.
        var w = SafeTensorsWriter()
        try w.add("w", [3, 4], shape: [2])
        try w.add("optimizer.m.w", [0, 0], shape: [2])
        try w.write(to: b)
        XCTAssertEqual(try CheckpointEMA.average([a, b], decay: 0.5, output: out), 1)
        XCTAssertEqual(try CheckpointReader(out).floats("w"), [2, 3])
    }

    /// Weights holding NaN/inf are refused when a model loads them (naming the
    /// tensor), and a checkpoint holding them is never written.
    func testNonFiniteWeightsAreRefused() throws {
        let layer = Linear(2, 1, rng: &rng)
        let url = tmp.appendingPathComponent("nan.safetensors")
        var w = SafeTensorsWriter()
        try w.add("weight", [0.5, .nan], shape: [1, 2])
        try w.add("bias", [0], shape: [1])
        try w.write(to: url)
        XCTAssertThrowsError(try layer.load(contentsOf: url)) { e in
            XCTAssertTrue("\(e)".contains("tensor 'weight' holds nan at element 1"), "\(e)")
        }
        let out = tmp.appendingPathComponent("diverged.safetensors")
        layer.weight.value.data[0] = .infinity
        XCTAssertThrowsError(try layer.save(to: out)) { e in
            XCTAssertTrue("\(e)".contains("not saved: tensor 'weight' holds inf at element 0"), "\(e)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.path))
    }

    var rng = SeededRNG(seed: 1)
}
