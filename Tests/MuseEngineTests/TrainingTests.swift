import XCTest
import Foundation
import MuseCore
@testable import MuseEngine

/// A tiny masked-token model: embedding -> transformer block (self + cross attention)
/// -> dropout -> linear head; trained with cross-entropy on randomly masked positions.
final class TinyMaskedModel: Module {
    let emb: Embedding, block: TransformerBlock, head: Linear
    let drop = Dropout(0.1)
    let vocab = 11, T = 4, D = 8, C = 6, S = 3

    init(seed: UInt64) {
        var rng = SeededRNG(seed: seed)
        emb = Embedding(count: vocab + 1, dim: D, rng: &rng)
        block = TransformerBlock(dim: D, heads: 2, contextDim: C, backend: fp32Reference, rng: &rng)
        head = Linear(D, vocab, backend: fp32Reference, rng: &rng)
    }

    var namedParameters: [(name: String, param: Parameter)] {
        nest("emb", emb) + nest("blocks", [block]) + nest("head", head)
    }

    /// One training step drawing data, masks and dropout from `rng`. Returns the loss.
    func trainStep(_ opt: Optimizer, rng: inout SeededRNG, schedule: WarmupCosineSchedule, step: Int) -> Float {
        let B = 2
        var ids = (0..<(B * T)).map { _ in rng.int(vocab) }
        let targets = ids
        let masked = (0..<(B * T)).map { _ in rng.uniform() < 0.6 }
        for i in ids.indices where masked[i] { ids[i] = vocab }
        let ctx = Tensor.randn([B, S, C], rng: &rng)
        let ctxMask = [true, true, false, true, false, true]
        zeroGrad()
        let x = try! emb.forward(ids, shape: [B, T])
        let h = drop.forward(block.forward(x, context: ctx, contextMask: ctxMask), training: true, rng: &rng)
        let logits = head.forward(h)
        let ce = Losses.crossEntropy(logits: logits, targets: targets, selected: masked, labelSmoothing: 0.1)
        let dh = drop.backward(head.backward(ce.grad))
        emb.backward(block.backward(dh).dx)
        clipGradientNorm(parameters, maxNorm: 1)
        opt.update(namedParameters, lr: schedule.lr(step: step))
        return ce.loss
    }
}

final class TrainingTests: XCTestCase {
    var tmp: URL!

    override func setUpWithError() throws {
        tmp = FileManager.default.temporaryDirectory.appendingPathComponent("muse-engine-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: tmp) }

    func testAdamWMatchesReferenceFormula() {
        let p = Parameter(Tensor(shape: [2, 2], data: [1, -2, 3, 0.5]))
        let b = Parameter(Tensor(shape: [2], data: [0.1, 0.2]))
        let opt = AdamW(beta1: 0.9, beta2: 0.96, eps: 1e-8, weightDecay: 0.1)
        var w = p.value.data.map(Double.init), m = [Double](repeating: 0, count: 4), v = m
        var wb = b.value.data.map(Double.init), mb = [0.0, 0.0], vb = [0.0, 0.0]
        let grads: [[Float]] = [[0.5, -1, 0.25, 2], [0.1, 0.3, -0.2, 1]]
        for (t, g) in grads.enumerated() {
            p.grad = Tensor(shape: [2, 2], data: g)
            b.grad = Tensor(shape: [2], data: [g[0], g[1]])
            opt.update([("w", p), ("b", b)], lr: 0.01)
            let step = Double(t + 1)
            for i in 0..<4 {
                w[i] *= 1 - 0.01 * 0.1
                m[i] = 0.9 * m[i] + 0.1 * Double(g[i]); v[i] = 0.96 * v[i] + 0.04 * Double(g[i] * g[i])
                w[i] -= 0.01 * (m[i] / (1 - pow(0.9, step))) / ((v[i] / (1 - pow(0.96, step))).squareRoot() + 1e-8)
            }
            for i in 0..<2 {
                mb[i] = 0.9 * mb[i] + 0.1 * Double(g[i]); vb[i] = 0.96 * vb[i] + 0.04 * Double(g[i] * g[i])
                wb[i] -= 0.01 * (mb[i] / (1 - pow(0.9, step))) / ((vb[i] / (1 - pow(0.96, step))).squareRoot() + 1e-8)
            }
        }
        for i in 0..<4 { XCTAssertEqual(Double(p.value.data[i]), w[i], accuracy: 1e-5) }
        for i in 0..<2 { XCTAssertEqual(Double(b.value.data[i]), wb[i], accuracy: 1e-5) }   // no decay on biases
    }

    func testAdafactorMatchesReferenceFormula() {
        let p = Parameter(Tensor(shape: [2, 3], data: [1, -2, 3, 0.5, 0, -1]))
        let opt = Adafactor(beta1: nil, weightDecay: 0)
        let g: [Float] = [0.5, -1, 0.25, 2, 0.1, -0.3]
        p.grad = Tensor(shape: [2, 3], data: g)
        let w0 = p.value.data
        opt.update([("w", p)], lr: 0.1)
        // Step 1: beta2 = 0 -> vr = row means of g^2, vc = column means.
        let g2 = g.map { Double($0 * $0) + 1e-30 }
        let vr = [(g2[0] + g2[1] + g2[2]) / 3, (g2[3] + g2[4] + g2[5]) / 3]
        let vc = [(g2[0] + g2[3]) / 2, (g2[1] + g2[4]) / 2, (g2[2] + g2[5]) / 2]
        let mr = (vr[0] + vr[1]) / 2
        var u = [Double](repeating: 0, count: 6)
        for r in 0..<2 { for c in 0..<3 { u[r * 3 + c] = Double(g[r * 3 + c]) / (vr[r] * vc[c] / mr).squareRoot() } }
        let rms = (u.map { $0 * $0 }.reduce(0, +) / 6).squareRoot()
        for i in 0..<6 { XCTAssertEqual(Double(p.value.data[i]), Double(w0[i]) - 0.1 * u[i] / max(1, rms), accuracy: 1e-5) }
        // Vector parameter: unfactored.
        let b = Parameter(Tensor(shape: [2], data: [0, 0]))
        b.grad = Tensor(shape: [2], data: [3, -4])
        Adafactor(beta1: nil).update([("b", b)], lr: 0.1)
        XCTAssertEqual(b.value.data[0], -0.1, accuracy: 1e-5)
        XCTAssertEqual(b.value.data[1], 0.1, accuracy: 1e-5)
    }

    func testClipAndSchedule() {
        let a = Parameter(Tensor(shape: [2], data: [0, 0])), b = Parameter(Tensor(shape: [1], data: [0]))
        a.grad = Tensor(shape: [2], data: [3, 0]); b.grad = Tensor(shape: [1], data: [4])
        XCTAssertEqual(clipGradientNorm([a, b], maxNorm: 1), 5, accuracy: 1e-6)
        XCTAssertEqual(a.grad.data[0], 0.6, accuracy: 1e-6); XCTAssertEqual(b.grad.data[0], 0.8, accuracy: 1e-6)
        let s = WarmupCosineSchedule(peak: 1, warmupSteps: 4, totalSteps: 14, final: 0.1)
        XCTAssertEqual(s.lr(step: 0), 0.25, accuracy: 1e-6)
        XCTAssertEqual(s.lr(step: 3), 1, accuracy: 1e-6)
        XCTAssertEqual(s.lr(step: 4), 1, accuracy: 1e-6)
        XCTAssertEqual(s.lr(step: 9), 0.55, accuracy: 1e-6)
        XCTAssertEqual(s.lr(step: 14), 0.1, accuracy: 1e-6)
        XCTAssertEqual(s.lr(step: 100), 0.1, accuracy: 1e-6)
    }

    func testParameterNamesSaveLoadAndErrors() throws {
        let a = TinyMaskedModel(seed: 1), b = TinyMaskedModel(seed: 2)
        let names = a.namedParameters.map { $0.name }
        XCTAssertTrue(names.contains("blocks.0.attn.q.weight"))
        XCTAssertTrue(names.contains("blocks.0.cross.k.weight"))
        XCTAssertTrue(names.contains("blocks.0.mlp.fc2.bias"))
        XCTAssertEqual(Set(names).count, names.count)
        let url = tmp.appendingPathComponent("w.safetensors")
        try a.save(to: url)
        try b.load(contentsOf: url)
        for (x, y) in zip(a.parameters, b.parameters) { XCTAssertEqual(x.value.data, y.value.data) }
        // Missing and wrong-shaped tensors are named.
        var dict = a.stateDict()
        dict.removeValue(forKey: "head.bias")
        try Checkpoint.write(dict, ints: [:], metadata: [:], to: url)
        XCTAssertThrowsError(try b.load(contentsOf: url)) { XCTAssertTrue("\($0)".contains("'head.bias'"), "\($0)") }
        dict["head.bias"] = Tensor(zeros: [3])
        try Checkpoint.write(dict, ints: [:], metadata: [:], to: url)
        XCTAssertThrowsError(try b.load(contentsOf: url)) { XCTAssertTrue("\($0)".contains("'head.bias' has shape [3], expected [11]"), "\($0)") }
    }

    func testShardedCheckpointRoundTrip() throws {
        let a = TinyMaskedModel(seed: 3), b = TinyMaskedModel(seed: 4)
        let url = tmp.appendingPathComponent("sharded.safetensors")
        try Checkpoint.write(a.stateDict(), ints: [:], metadata: ["k": "v"], to: url, maxShardBytes: 1000)
        let r = try CheckpointReader(url)
        let shards = Int(r.metadata["muse.shards"]!)!
        XCTAssertGreaterThan(shards, 2)
        let id = try XCTUnwrap(r.metadata["muse.checkpoint_id"])
        XCTAssertTrue(FileManager.default.fileExists(atPath: Checkpoint.shardURL(url, id: id, shards, of: shards).path))
        XCTAssertEqual(r.fileURLs.count, shards)
        XCTAssertEqual(r.metadata["k"], "v")
        try b.load(from: r)
        for (x, y) in zip(a.parameters, b.parameters) { XCTAssertEqual(x.value.data, y.value.data) }
        // A shard from another save is refused.
        let other = tmp.appendingPathComponent("other.safetensors")
        try Checkpoint.write(a.stateDict(), ints: [:], metadata: [:], to: other, maxShardBytes: 1000)
        let otherID = try XCTUnwrap(CheckpointReader(other).metadata["muse.checkpoint_id"])
        let o = Checkpoint.shardURL(other, id: otherID, 2, of: shards), s = Checkpoint.shardURL(url, id: id, 2, of: shards)
        try FileManager.default.removeItem(at: s)
        try FileManager.default.copyItem(at: o, to: s)
        XCTAssertThrowsError(try CheckpointReader(url)) { XCTAssertTrue("\($0)".contains("different save"), "\($0)") }
    }

    /// File names in the test directory.
    func directoryNames() throws -> Set<String> {
        Set(try FileManager.default.contentsOfDirectory(atPath: tmp.path))
    }

    func assertSameWeights(_ a: Module, _ b: Module, _ label: String, file: StaticString = #filePath, line: UInt = #line) {
        for (x, y) in zip(a.namedParameters, b.namedParameters) {
            XCTAssertEqual(x.param.value.data, y.param.value.data, "\(label): \(x.name)", file: file, line: line)
        }
    }

    /// A save that stops after writing its shards (before the main file's rename)
    /// leaves the previous checkpoint loadable; the next complete save removes the
    /// dead shards, and a save with fewer shards leaves no stale shard files.
    func testInterruptedAndShrinkingShardedSaves() throws {
        let a = TinyMaskedModel(seed: 3), b = TinyMaskedModel(seed: 4)
        let url = tmp.appendingPathComponent("ckpt.safetensors")
        // A neighbour whose stem extends ours: its files must survive our saves.
        let neighbour = tmp.appendingPathComponent("ckpt.v2.safetensors")
        try Checkpoint.write(b.stateDict(), ints: [:], metadata: [:], to: neighbour, maxShardBytes: 1000)
        let neighbourFiles = Set(try CheckpointReader(neighbour).fileURLs.map { $0.lastPathComponent })
        XCTAssertGreaterThan(neighbourFiles.count, 2)

        try Checkpoint.write(a.stateDict(), ints: [:], metadata: [:], to: url, maxShardBytes: 1000)
        let first = try CheckpointReader(url)
        let firstFiles = Set(first.fileURLs.map { $0.lastPathComponent })
        XCTAssertGreaterThan(firstFiles.count, 2)
        XCTAssertEqual(try directoryNames(), firstFiles.union(neighbourFiles))

        // Crash: b's shards are on disk, its main file never replaced a's.
        let shards = try Checkpoint.pack(b.stateDict(), ints: [:], maxShardBytes: 1000)
        let dead = try Checkpoint.writeShards(shards, tensors: b.stateDict(), ints: [:], id: Checkpoint.newSaveID(), beside: url)
        XCTAssertEqual(dead.count, shards.count - 1)
        XCTAssertTrue(Set(dead).isDisjoint(with: firstFiles), "a new save must not overwrite the old save's shards")
        for name in dead { XCTAssertTrue(FileManager.default.fileExists(atPath: tmp.appendingPathComponent(name).path)) }
        let c = TinyMaskedModel(seed: 5)
        try c.load(contentsOf: url)
        assertSameWeights(c, a, "previous checkpoint after an interrupted save")

        // A complete save with fewer shards: only its own files remain (and the neighbour's).
        try Checkpoint.write(b.stateDict(), ints: [:], metadata: [:], to: url, maxShardBytes: 4000)
        let second = try CheckpointReader(url)
        let secondFiles = Set(second.fileURLs.map { $0.lastPathComponent })
        XCTAssertGreaterThan(secondFiles.count, 1)
        XCTAssertLessThan(secondFiles.count, firstFiles.count)
        XCTAssertEqual(try directoryNames(), secondFiles.union(neighbourFiles))
        try c.load(from: second)
        assertSameWeights(c, b, "second save")

        // A one-file save leaves no shard at all.
        try Checkpoint.write(a.stateDict(), ints: [:], metadata: [:], to: url)
        XCTAssertEqual(try CheckpointReader(url).fileURLs.count, 1)
        XCTAssertEqual(try directoryNames(), neighbourFiles.union(["ckpt.safetensors"]))
        try c.load(contentsOf: url)
        assertSameWeights(c, a, "one-file save")
        try c.load(contentsOf: neighbour)
        assertSameWeights(c, b, "neighbour checkpoint")
    }

    /// Checkpoints from before shard names carried the save id still load, and
    /// the next save removes their shards.
    func testLegacyShardNamesLoadAndAreCleanedUp() throws {
        let a = TinyMaskedModel(seed: 3), b = TinyMaskedModel(seed: 4)
        let url = tmp.appendingPathComponent("old.safetensors")
        let shards = try Checkpoint.pack(a.stateDict(), ints: [:], maxShardBytes: 1000)
        let n = shards.count
        XCTAssertGreaterThan(n, 1)
        let meta = ["muse.shards": "\(n)", "muse.checkpoint_id": "1-2"]
        for i in 2...n {
            try Checkpoint.writeFile(shards[i - 1], tensors: a.stateDict(), ints: [:], metadata: meta,
                                     to: tmp.appendingPathComponent("old.shard-\(i)-of-\(n).safetensors"))
        }
        try Checkpoint.writeFile(shards[0], tensors: a.stateDict(), ints: [:], metadata: meta, to: url)
        try b.load(contentsOf: url)
        assertSameWeights(b, a, "legacy layout")
        try Checkpoint.write(a.stateDict(), ints: [:], metadata: [:], to: url)
        XCTAssertEqual(try directoryNames(), ["old.safetensors"])
    }

    /// Copies the training checkpoint `src` to `dst` with `edit` applied to its tensors.
    func rewriteCheckpoint(_ src: URL, to dst: URL, edit: (inout [String: Tensor], inout [String: [Int64]]) -> Void) throws {
        let r = try CheckpointReader(src)
        var floats: [String: Tensor] = [:], ints: [String: [Int64]] = [:]
        for name in r.names {
            if r.dtype(of: name) == .i64 { ints[name] = try r.ints(name) } else { floats[name] = try r.tensor(name) }
        }
        edit(&floats, &ints)
        try Checkpoint.write(floats, ints: ints, metadata: ["muse.optimizer": try XCTUnwrap(r.metadata["muse.optimizer"])], to: dst)
    }

    /// Loading `url` throws a message containing each of `parts`, and leaves the
    /// optimizer untouched.
    func assertLoadFails(_ url: URL, _ makeOpt: () -> Optimizer, _ parts: [String],
                         file: StaticString = #filePath, line: UInt = #line) {
        let opt = makeOpt()
        XCTAssertThrowsError(try TrainingCheckpoint.load(from: url, model: TinyMaskedModel(seed: 1), optimizer: opt),
                             file: file, line: line) { e in
            for p in parts + [url.path] { XCTAssertTrue("\(e)".contains(p), "'\(p)' not in: \(e)", file: file, line: line) }
        }
        XCTAssertEqual(opt.step, 0, file: file, line: line)
        XCTAssertTrue(opt.stateTensors().isEmpty, file: file, line: line)
    }

    /// Corrupt training checkpoints give clear errors naming the tensor, never a crash.
    func testCorruptTrainingCheckpointsThrow() throws {
        let schedule = WarmupCosineSchedule(peak: 3e-3, warmupSteps: 2, totalSteps: 8)
        let head = TinyMaskedModel(seed: 1).head.weight.shape
        XCTAssertEqual(head, [11, 8])
        for makeOpt in [{ AdamW() as Optimizer }, { Adafactor() as Optimizer }] {
            let model = TinyMaskedModel(seed: 7), opt = makeOpt()
            var rng = SeededRNG(seed: 1)
            for s in 0..<2 { _ = model.trainStep(opt, rng: &rng, schedule: schedule, step: s) }
            let good = tmp.appendingPathComponent("good-\(opt.kind).safetensors")
            try TrainingCheckpoint.save(to: good, model: model, optimizer: opt, step: 2, rng: rng)
            let loaded = makeOpt()
            XCTAssertEqual(try TrainingCheckpoint.load(from: good, model: TinyMaskedModel(seed: 1), optimizer: loaded).step, 2)
            XCTAssertEqual(loaded.step, 2)
            XCTAssertEqual(Set(loaded.stateTensors().keys), Set(opt.stateTensors().keys))

            let bad = tmp.appendingPathComponent("bad-\(opt.kind).safetensors")
            // The second moment (v, or Adafactor's factored vr) of one parameter is missing.
            let second = opt.kind == "adamw" ? "v.head.weight" : "vr.head.weight"
            try rewriteCheckpoint(good, to: bad) { t, _ in t["optimizer." + second] = nil }
            assertLoadFails(bad, makeOpt, ["'\(second)'", "missing"])
            // A first moment smaller than its parameter.
            try rewriteCheckpoint(good, to: bad) { t, _ in t["optimizer.m.head.weight"] = Tensor(zeros: [3]) }
            assertLoadFails(bad, makeOpt, ["'m.head.weight' has shape [3], expected \(head)"])
            // Empty step tensors.
            for name in ["optimizer.step", "train.step"] {
                try rewriteCheckpoint(good, to: bad) { _, i in i[name] = [] }
                assertLoadFails(bad, makeOpt, ["'\(name)' has 0 values, expected 1"])
            }
            try rewriteCheckpoint(good, to: bad) { _, i in i["optimizer.step"] = [-3] }
            assertLoadFails(bad, makeOpt, ["'optimizer.step' is -3"])
            // State for a parameter the model does not have.
            try rewriteCheckpoint(good, to: bad) { t, _ in t["optimizer.m.nope"] = Tensor(zeros: [2]) }
            assertLoadFails(bad, makeOpt, ["unexpected optimizer state 'm.nope'"])
        }
        // Adafactor: factored statistics of the wrong length.
        let good = tmp.appendingPathComponent("good-adafactor.safetensors"), bad = tmp.appendingPathComponent("bad.safetensors")
        try rewriteCheckpoint(good, to: bad) { t, _ in t["optimizer.vr.head.weight"] = Tensor(zeros: [5]) }
        assertLoadFails(bad, { Adafactor() }, ["'vr.head.weight' has shape [5], expected [11]"])
        try rewriteCheckpoint(good, to: bad) { t, _ in t["optimizer.vc.head.weight"] = Tensor(zeros: [11]) }
        assertLoadFails(bad, { Adafactor() }, ["'vc.head.weight' has shape [11], expected [8]"])
        // Adafactor without a first moment cannot take a checkpoint that has one.
        assertLoadFails(good, { Adafactor(beta1: nil) }, ["unexpected optimizer state 'm."])
    }

    /// A checkpoint saved before the first update (no optimizer state) loads.
    func testTrainingCheckpointAtStepZeroLoads() throws {
        for makeOpt in [{ AdamW() as Optimizer }, { Adafactor() as Optimizer }] {
            let model = TinyMaskedModel(seed: 7)
            let url = tmp.appendingPathComponent("zero.safetensors")
            try TrainingCheckpoint.save(to: url, model: model, optimizer: makeOpt(), step: 0, rng: SeededRNG(seed: 5))
            let resumed = TinyMaskedModel(seed: 8), opt = makeOpt()
            let state = try TrainingCheckpoint.load(from: url, model: resumed, optimizer: opt)
            XCTAssertEqual(state.step, 0)
            XCTAssertEqual(state.rng.stateWords, SeededRNG(seed: 5).stateWords)
            assertSameWeights(resumed, model, opt.kind)
        }
    }

    /// N steps straight vs N/2 steps, save, fresh objects, load, N/2 steps: identical weights.
    func testResumeIsBitExact() throws {
        let saved = Checkpoint.maxShardBytes
        Checkpoint.maxShardBytes = 4000    // force a sharded training checkpoint
        defer { Checkpoint.maxShardBytes = saved }
        let schedule = WarmupCosineSchedule(peak: 3e-3, warmupSteps: 2, totalSteps: 8)
        for makeOpt in [{ AdamW() as Optimizer }, { Adafactor() as Optimizer }] {
            let N = 8
            let straight = TinyMaskedModel(seed: 7)
            let opt1 = makeOpt()
            var rng1 = SeededRNG(seed: 42)
            var losses: [Float] = []
            for s in 0..<N { losses.append(straight.trainStep(opt1, rng: &rng1, schedule: schedule, step: s)) }

            let first = TinyMaskedModel(seed: 7)
            let opt2 = makeOpt()
            var rng2 = SeededRNG(seed: 42)
            for s in 0..<(N / 2) { _ = first.trainStep(opt2, rng: &rng2, schedule: schedule, step: s) }
            let url = tmp.appendingPathComponent("train-\(opt2.kind).safetensors")
            try TrainingCheckpoint.save(to: url, model: first, optimizer: opt2, step: N / 2, rng: rng2)
            XCTAssertEqual(try CheckpointReader(url).metadata["muse.shards"].flatMap { Int($0) }.map { $0 > 1 }, true)

            let resumed = TinyMaskedModel(seed: 999)     // different init: everything must come from the file
            let opt3 = makeOpt()
            let state = try TrainingCheckpoint.load(from: url, model: resumed, optimizer: opt3)
            XCTAssertEqual(state.step, N / 2)
            var rng3 = state.rng
            var resumedLosses: [Float] = []
            for s in state.step..<N { resumedLosses.append(resumed.trainStep(opt3, rng: &rng3, schedule: schedule, step: s)) }
            XCTAssertEqual(resumedLosses, Array(losses[(N / 2)...]), opt3.kind)
            for (x, y) in zip(straight.namedParameters, resumed.namedParameters) {
                XCTAssertEqual(x.param.value.data, y.param.value.data, "\(opt3.kind): \(x.name) differs after resume")
            }
            XCTAssertEqual(rng1.stateWords, rng3.stateWords)
            XCTAssertLessThan(losses.last!, losses.first! + 1, "training runs")
            // The wrong optimizer kind is refused with a clear message.
            let wrong: Optimizer = opt3.kind == "adamw" ? Adafactor() : AdamW()
            XCTAssertThrowsError(try TrainingCheckpoint.load(from: url, model: resumed, optimizer: wrong))
        }
    }

    /// A compacted training checkpoint: optimizer moments as BF16, everything else exact,
    /// smaller files, idempotent, and a run resumed from it goes on like the straight run.
    func testCompactedStateResumes() throws {
        let saved = Checkpoint.maxShardBytes
        Checkpoint.maxShardBytes = 4000    // sharded before and after
        defer { Checkpoint.maxShardBytes = saved }
        let schedule = WarmupCosineSchedule(peak: 3e-3, warmupSteps: 2, totalSteps: 12)
        let N = 12
        let straight = TinyMaskedModel(seed: 7), opt1 = AdamW()
        var rng1 = SeededRNG(seed: 42)
        for s in 0..<N { _ = straight.trainStep(opt1, rng: &rng1, schedule: schedule, step: s) }

        let first = TinyMaskedModel(seed: 7), opt2 = AdamW()
        var rng2 = SeededRNG(seed: 42)
        for s in 0..<(N / 2) { _ = first.trainStep(opt2, rng: &rng2, schedule: schedule, step: s) }
        let url = tmp.appendingPathComponent("state.safetensors")
        try TrainingCheckpoint.save(to: url, model: first, optimizer: opt2, step: N / 2, rng: rng2,
                                    metadata: ["train.data": "position 17"])
        let (before, after) = try TrainingCheckpoint.compactOptimizerState(at: url)
        let r = try CheckpointReader(url)
        // Weights 4 bytes/value + two moments 2 bytes each: half the moments' bytes go.
        let params = first.namedParameters.reduce(0) { $0 + $1.param.value.count }
        XCTAssertEqual(before - after, params * 4, accuracy: 3000, "bytes saved (headers differ)")
        XCTAssertGreaterThan(Int(r.metadata["muse.shards"] ?? "1") ?? 1, 1)
        XCTAssertEqual(r.metadata["train.data"], "position 17")
        XCTAssertEqual(r.metadata["train.optimizer_storage"], "BF16")
        XCTAssertEqual(r.metadata["muse.step"], "\(N / 2)")
        for (name, t) in opt2.stateTensors() {
            XCTAssertEqual(r.dtype(of: "optimizer." + name), .bf16, name)
            XCTAssertEqual(try r.floats("optimizer." + name), t.data.map { Float(bitPattern: UInt32(bfloat16Bits($0)) << 16) }, name)
        }
        for (name, p) in first.namedParameters {
            XCTAssertEqual(r.dtype(of: name), .f32, name)
            XCTAssertEqual(try r.floats(name), p.value.data, "\(name): weights are kept exactly")
        }
        // Idempotent: a second compaction keeps every value.
        let again = try TrainingCheckpoint.compactOptimizerState(at: url)
        XCTAssertEqual(again.before, after)
        XCTAssertEqual(again.after, after)
        XCTAssertEqual(try CheckpointReader(url).fileURLs.count, r.fileURLs.count, "stale shards removed")
        let left = try FileManager.default.contentsOfDirectory(atPath: tmp.path).filter { $0.hasPrefix("state.") }
        XCTAssertEqual(left.count, r.fileURLs.count, "\(left)")

        let resumed = TinyMaskedModel(seed: 999), opt3 = AdamW()
        let state = try TrainingCheckpoint.load(from: url, model: resumed, optimizer: opt3)
        XCTAssertEqual(state.step, N / 2)
        XCTAssertEqual(state.rng.stateWords, rng2.stateWords)
        XCTAssertEqual(opt3.step, opt2.step)
        var rng3 = state.rng
        for s in state.step..<N { _ = resumed.trainStep(opt3, rng: &rng3, schedule: schedule, step: s) }
        XCTAssertEqual(rng3.stateWords, rng1.stateWords)
        for (x, y) in zip(straight.namedParameters, resumed.namedParameters) {
            let diff = zip(x.param.value.data, y.param.value.data).map { abs($0 - $1) }.max() ?? 0
            let scale = x.param.value.data.map { abs($0) }.max() ?? 0
            // Six AdamW steps of at most lr (3e-3) each from moments off by <= 2^-9 relative.
            XCTAssertLessThan(diff, 1e-3 * max(scale, 1), "\(x.name) drifted \(diff) after resuming from the compacted state")
        }
        // Not a training checkpoint: refused.
        let weights = tmp.appendingPathComponent("weights.safetensors")
        try Checkpoint.write(["w": Tensor(shape: [2], data: [1, 2])], ints: [:], metadata: [:], to: weights)
        XCTAssertThrowsError(try TrainingCheckpoint.compactOptimizerState(at: weights)) {
            XCTAssertTrue("\($0)".contains("not a training checkpoint"), "\($0)")
        }
    }

    func testCheckpointEMA() throws {
        let urls = (0..<3).map { tmp.appendingPathComponent("c\($0).safetensors") }
        let vals: [[Float]] = [[1, 2], [3, 4], [5, 8]]
        for (u, v) in zip(urls, vals) {
            try Checkpoint.write(["w": Tensor(shape: [2], data: v), "optimizer.m.w": Tensor(shape: [2], data: v)],
                                 ints: ["train.step": [1]], metadata: [:], to: u)
        }
        let out = tmp.appendingPathComponent("ema.safetensors")
        XCTAssertEqual(try CheckpointEMA.average(urls, decay: 0.7, output: out), 1)
        let r = try CheckpointReader(out)
        XCTAssertEqual(r.names, ["w"])
        let w = try r.floats("w")
        // ((1*0.7 + 3*0.3) * 0.7 + 5*0.3, ...)
        XCTAssertEqual(w[0], (1 * 0.7 + 3 * 0.3) * 0.7 + 5 * 0.3, accuracy: 1e-6)
        XCTAssertEqual(w[1], (2 * 0.7 + 4 * 0.3) * 0.7 + 8 * 0.3, accuracy: 1e-6)
        try Checkpoint.write(["w": Tensor(shape: [3], data: [0, 0, 0])], ints: [:], metadata: [:], to: urls[2])
        XCTAssertThrowsError(try CheckpointEMA.average(urls, decay: 0.7, output: out)) { XCTAssertTrue("\($0)".contains("shape"), "\($0)") }
    }

    func testTransformerBlockBackward() {
        var rng = SeededRNG(seed: 30)
        let blk = TransformerBlock(dim: 8, heads: 2, contextDim: 4, gelu: .erf, backend: fp32Reference, rng: &rng)
        let x = Parameter(randn([2, 3, 8], &rng)), ctx = Parameter(randn([2, 2, 4], &rng))
        let mask = [true, true, false, true, true, true], cmask = [true, false, true, true]
        let r = randn([2, 3, 8], &rng)
        let loss = { dot(blk.forward(x.value, mask: mask, context: ctx.value, contextMask: cmask), r) }
        _ = loss()
        let g = blk.backward(r)
        checkGradient("block dx", x, analytic: g.dx, loss: loss)
        checkGradient("block dcontext", ctx, analytic: g.dcontext!, loss: loss)
        for (name, p) in blk.namedParameters where name.hasSuffix("weight") {
            checkGradient("block \(name)", p, analytic: p.grad, samples: 6, loss: loss)
        }
    }
}
