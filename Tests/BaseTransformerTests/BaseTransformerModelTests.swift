import XCTest
import Foundation
import MuseCore
@testable import MuseEngine
import MuseTestSupport
@testable import MuseBaseTransformer

/// A tiny architecture for fast tests.
func tinyBaseConfig() -> BaseTransformerConfig {
    var c = BaseTransformerConfig()
    c.width = 16; c.depth = 2; c.heads = 2; c.mlpRatio = 2
    c.textDim = 6; c.maxTextTokens = 5; c.gridHeight = 2; c.gridWidth = 3; c.codebookSize = 7
    return c
}

/// A random text embedding of `n` tokens (the last `padding` of them padding).
func randomText(_ n: Int, padding: Int = 0, dim: Int, _ rng: inout SeededRNG) -> TextEmbedding {
    TextEmbedding(tokenIDs: (0..<n).map { Int32($0) }, hidden: (0..<(n * dim)).map { _ in rng.normal() },
                  dim: dim, mask: (0..<n).map { $0 < n - padding ? 1 : 0 }, pooled: [])
}

/// A batch of `texts` (nil = unconditional) with random tokens, some masked.
func randomBatch(_ c: BaseTransformerConfig, _ texts: [TextEmbedding?], _ rng: inout SeededRNG) throws -> BaseBatch {
    let p = try BaseBatch.packText(texts, dim: c.textDim, maxTokens: c.maxTextTokens)
    let tokens = (0..<(texts.count * c.tokens)).map { _ in rng.uniform() < 0.4 ? c.maskID : rng.int(c.codebookSize) }
    return BaseBatch(tokens: tokens, text: p.text, textMask: p.mask, isNull: p.isNull)
}

final class BaseTransformerModelTests: XCTestCase {
    let fp32 = OpenBLASBackend()

    /// Every parameter tensor's gradient matches finite differences of `sum(logits * R)`,
    /// for a batch with a padded prompt, a full-length prompt and an unconditional example.
    func testGradientsOfEveryParameter() throws {
        let c = tinyBaseConfig()
        var rng = SeededRNG(seed: 1)
        let m = try BaseTransformerModel(c, codebookName: "t", seed: 1, backend: fp32)
        let batch = try randomBatch(c, [randomText(4, padding: 1, dim: 6, &rng), nil, randomText(5, dim: 6, &rng)], &rng)
        let y = try m.forward(batch)
        XCTAssertEqual(y.shape, [3, 6, 7])
        let r = randn(y.shape, &rng)
        m.zeroGrad()
        m.backward(r)
        let loss = { dot(try! m.forward(batch), r) }
        // text_proj 2, text_norm 2, null 1, embedding 1, positions 1, 26 per block, final_norm 2, head 2.
        XCTAssertEqual(m.namedParameters.count, 9 + 26 * c.depth + 2, "parameter tensors")
        for (name, p) in m.namedParameters {
            checkGradient(name, p, analytic: p.grad, samples: 8, loss: loss)
        }
        // The null context gets gradient only through the unconditional example.
        XCTAssertGreaterThan(m.nullContext.grad.data.map(abs).max()!, 0)
    }

    /// The training step's gradients are those of the masked cross-entropy (finite
    /// differences of the loss), and several passes give the gradients of one.
    func testTrainStepLossGradientsAndPasses() throws {
        let c = tinyBaseConfig()
        var rng = SeededRNG(seed: 2)
        let m = try BaseTransformerModel(c, codebookName: "t", seed: 2, backend: fp32)
        let batch = try randomBatch(c, [randomText(3, dim: 6, &rng), nil, randomText(5, padding: 2, dim: 6, &rng), randomText(2, dim: 6, &rng)], &rng)
        let targets = (0..<(4 * c.tokens)).map { _ in rng.int(c.codebookSize) }
        let selected = batch.tokens.map { $0 == c.maskID }
        m.zeroGrad()
        let one = try m.trainStep(batch, targets: targets, selected: selected, labelSmoothing: 0.1, passRows: 4)
        let g1 = m.namedParameters.map { $0.param.grad }
        m.zeroGrad()
        let three = try m.trainStep(batch, targets: targets, selected: selected, labelSmoothing: 0.1, passRows: 3)
        XCTAssertEqual(one.loss, three.loss, accuracy: 1e-5)
        XCTAssertEqual(one.masked, selected.filter { $0 }.count)
        XCTAssertEqual(one.correct, three.correct)
        for (i, (name, p)) in m.namedParameters.enumerated() {
            XCTAssertLessThan(p.grad.maxAbsDifference(g1[i]), 1e-5, "\(name): passes of 3 vs one pass")
        }
        let loss = { () -> Double in
            let logits = try! m.forward(batch)
            return Double(Losses.crossEntropy(logits: logits, targets: targets, selected: selected, labelSmoothing: 0.1).loss)
        }
        XCTAssertEqual(loss(), Double(one.loss), accuracy: 1e-5)
        for (name, p) in m.namedParameters where name.hasPrefix("head") || name.hasPrefix("blocks.1.cross") || name == "null_context" || name.hasPrefix("text_proj") {
            checkGradient("CE \(name)", p, analytic: p.grad, h: 1e-2, rtol: 5e-2, atol: 5e-4, samples: 6, loss: loss)
        }
    }

    /// Inference with prepared text keys/values gives the training forward's logits.
    func testPreparedInferenceMatchesTrainingForward() throws {
        let c = tinyBaseConfig()
        var rng = SeededRNG(seed: 3)
        let m = try BaseTransformerModel(c, codebookName: "t", seed: 3, backend: fp32)
        let texts: [TextEmbedding?] = [randomText(4, padding: 1, dim: 6, &rng), nil, randomText(2, dim: 6, &rng)]
        let batch = try randomBatch(c, texts, &rng)
        let reference = try m.forward(batch)
        let prepared = try m.prepare(texts)
        let fast = try m.logits(tokens: batch.tokens, prepared: prepared)
        XCTAssertLessThan(Tensor(shape: reference.shape, data: fast).maxAbsDifference(reference), 1e-5)
        // Prepared once, used twice: the same answer.
        XCTAssertEqual(try m.logits(tokens: batch.tokens, prepared: prepared), fast)
    }

    /// Padding never changes the logits: a prompt alone, and padded to a longer batch.
    func testPaddingIndependence() throws {
        let c = tinyBaseConfig()
        var rng = SeededRNG(seed: 4)
        let m = try BaseTransformerModel(c, codebookName: "t", seed: 4, backend: fp32)
        let short = randomText(2, dim: 6, &rng), long = randomText(5, dim: 6, &rng)
        let tokens = (0..<c.tokens).map { _ in rng.int(c.codebookSize + 1) }
        let alone = try m.logits(tokens: tokens, prepared: try m.prepare([short]))
        let both = try m.logits(tokens: tokens + tokens, prepared: try m.prepare([short, long]))
        XCTAssertLessThan(zip(alone, both.prefix(alone.count)).map { abs($0 - $1) }.max()!, 1e-5)
        // The unconditional item ignores whatever text the batch holds for it.
        let u1 = try m.logits(tokens: tokens, prepared: try m.prepare([nil]))
        let u2 = try m.logits(tokens: tokens + tokens, prepared: try m.prepare([long, nil]))
        XCTAssertLessThan(zip(u1, u2.suffix(u1.count)).map { abs($0 - $1) }.max()!, 1e-5)
    }

    func testBadInputsAreErrors() throws {
        let c = tinyBaseConfig()
        var rng = SeededRNG(seed: 5)
        let m = try BaseTransformerModel(c, codebookName: "t", seed: 5, backend: fp32)
        XCTAssertThrowsError(try m.prepare([randomText(6, dim: 6, &rng)])) { XCTAssertTrue("\($0)".contains("at most 5")) }
        XCTAssertThrowsError(try m.prepare([randomText(3, dim: 5, &rng)])) { XCTAssertTrue("\($0)".contains("width 5")) }
        let p = try m.prepare([nil])
        XCTAssertThrowsError(try m.logits(tokens: [Int](repeating: 0, count: 5), prepared: p))
        XCTAssertThrowsError(try m.logits(tokens: [Int](repeating: 8, count: 6), prepared: p)) { XCTAssertTrue("\($0)".contains("token id 8")) }
        var bad = c; bad.heads = 3
        XCTAssertThrowsError(try BaseTransformerModel(bad, codebookName: "t", seed: 0))
    }

    /// F32 and F16 round trips; foreign or stray tensors are refused with the tensor named.
    func testSaveLoad() throws {
        let c = tinyBaseConfig()
        let m = try BaseTransformerModel(c, codebookName: "book", seed: 6, backend: fp32)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("base-saveload-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let f32 = dir.appendingPathComponent("w32.safetensors"), f16 = dir.appendingPathComponent("w16.safetensors")
        try m.saveWeights(to: f32)
        try m.saveWeights(to: f16, dtype: .f16)
        let a = try BaseTransformerModel.load(contentsOf: f32, backend: fp32)
        XCTAssertEqual(a.config, c)
        XCTAssertEqual(a.codebookName, "book")
        for ((n, p), (_, q)) in zip(m.namedParameters, a.namedParameters) { XCTAssertEqual(p.value.data, q.value.data, n) }
        let b = try BaseTransformerModel.load(contentsOf: f16, backend: fp32)
        for ((n, p), (_, q)) in zip(m.namedParameters, b.namedParameters) { XCTAssertLessThan(p.value.maxAbsDifference(q.value), 1e-2, n) }
        // A tokenizer-like file is not base weights.
        var w = SafeTensorsWriter()
        try w.add("x", [1, 2], shape: [2], as: .f32)
        w.metadata = ["muse.tokenizer": "{}"]
        let other = dir.appendingPathComponent("other.safetensors")
        try w.write(to: other)
        XCTAssertThrowsError(try BaseTransformerModel.load(contentsOf: other)) { XCTAssertTrue("\($0)".contains("not base-transformer weights")) }
        // A stray tensor.
        var s = SafeTensorsWriter()
        for (name, p) in m.namedState { try s.add(name, p.value.data, shape: p.shape, as: .f32) }
        try s.add("blocks.9.extra", [0], shape: [1], as: .f32)
        s.metadata = m.metadata
        let stray = dir.appendingPathComponent("stray.safetensors")
        try s.write(to: stray)
        XCTAssertThrowsError(try BaseTransformerModel.load(contentsOf: stray)) { XCTAssertTrue("\($0)".contains("blocks.9.extra")) }
    }

    /// A few AdamW steps on one fixed batch drive the masked loss down (the whole step trains).
    func testOverfitsOneBatch() throws {
        let c = tinyBaseConfig()
        var rng = SeededRNG(seed: 7)
        let m = try BaseTransformerModel(c, codebookName: "t", seed: 7, backend: fp32)
        let batch = try randomBatch(c, [randomText(3, dim: 6, &rng), randomText(4, dim: 6, &rng), nil, randomText(2, dim: 6, &rng)], &rng)
        let targets = (0..<(4 * c.tokens)).map { _ in rng.int(c.codebookSize) }
        let selected = batch.tokens.map { $0 == c.maskID }
        let opt = AdamW(beta1: 0.9, beta2: 0.96, weightDecay: 0.045)
        var first: Float = 0, last: Float = 0
        for step in 0..<60 {
            m.zeroGrad()
            let r = try m.trainStep(batch, targets: targets, selected: selected, labelSmoothing: 0, passRows: 2)
            if step == 0 { first = r.loss }
            last = r.loss
            opt.update(m.namedParameters, lr: 3e-3)
        }
        XCTAssertGreaterThan(first, 1.5)
        XCTAssertLessThan(last, first * 0.3, "loss \(first) -> \(last)")
    }
}
