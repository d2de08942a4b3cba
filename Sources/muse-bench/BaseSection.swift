import Foundation
import MuseCore
import MuseEngine
import MuseBaseTransformer
import MuseMaskGITSampler

/// The base transformer at its real shape (width 256, 8 blocks, 4 heads, 8x8 tokens,
/// 1,000 codes, 16 text tokens): the training step at batch 256 in one pass and in
/// passes of 64 (what muse-train base runs), one sampling step's model call, and
/// whole generations through sampler.maskgit.
/// FLOPs: GEMMs only (`BaseTransformerModel.forwardFlops`), training = 3x forward.
func benchBase(_ r: inout Report, budget: Double, backend: ComputeBackend) throws {
    r.header("base transformer (width 256, 8 blocks, 64 tokens, 1,000 codes, 16 text tokens; GEMM FLOPs only)")
    let config = BaseTransformerConfig()
    let model = try BaseTransformerModel(config, codebookName: "bench", seed: 1, backend: backend)
    var rng = SeededRNG(seed: 8)
    let S = 16, T = config.tokens
    func text() -> TextEmbedding {
        TextEmbedding(tokenIDs: [Int32](repeating: 1, count: S), hidden: (0..<(S * config.textDim)).map { _ in rng.normal() },
                      dim: config.textDim, mask: [Float](repeating: 1, count: S), pooled: [])
    }
    let B = 256
    let texts: [TextEmbedding?] = (0..<B).map { $0 % 10 == 0 ? nil : text() }
    let p = try BaseBatch.packText(texts, dim: config.textDim, maxTokens: config.maxTextTokens)
    let targets = (0..<(B * T)).map { _ in rng.int(config.codebookSize) }
    let selected = (0..<(B * T)).map { _ in rng.uniform() < 0.64 }
    let tokens = (0..<(B * T)).map { selected[$0] ? config.maskID : targets[$0] }
    let batch = BaseBatch(tokens: tokens, text: p.text, textMask: p.mask, isNull: p.isNull)
    let flops = 3 * model.forwardFlops(batch: B, textTokens: S)
    for pass in [256, 128, 64, 32] {
        let t = bestTime(budget: budget) {
            model.zeroGrad()
            _ = try! model.trainStep(batch, targets: targets, selected: selected, labelSmoothing: 0.1, passRows: pass)
        }
        r.add("base-train", "training step, batch 256 in passes of \(pass) (\(String(format: "%.1f", Double(B) / t)) samples/s)", flops: flops, seconds: t)
    }
    // One sampling step with guidance: cond + uncond of `n` prompts in one call.
    for n in [1, 8] {
        let prepared = try model.prepare((0..<n).map { _ in text() } + [TextEmbedding?](repeating: nil, count: n))
        let ids = (0..<(2 * n * T)).map { _ in rng.int(config.codebookSize + 1) }
        let t = bestTime(budget: budget) { _ = try! model.logits(tokens: ids, prepared: prepared) }
        r.add("base-sample", "sampling step, \(n) prompt(s) + guidance (\(String(format: "%.0f", 24 * t * 1e3 / Double(n))) ms/image at 24 steps)",
              flops: model.logitsFlops(batch: 2 * n, textTokens: S), seconds: t)
    }
    // Whole generations through sampler.maskgit at its defaults (24 steps, guidance 3,
    // cosine schedule): the text keys/values once, then per step the model call, the
    // guidance mix, the token draws and the confidence sort; what the PyTorch side of
    // the comparison (scripts/reference/bench_base_torch.py) times.
    let tokenModel = BaseTokenModel(model)
    let sampler = MaskGITSampler()
    for n in [1, 8] {
        let items = (0..<n).map { SamplingItem(text: text(), seed: UInt64($0)) }
        let t = bestTime(budget: budget) { _ = try! sampler.sample(tokenModel, items) }
        // prepare + 24 model calls = one full forward (text projection and keys/values) + 23 calls.
        let flops = model.forwardFlops(batch: 2 * n, textTokens: S) + Double(sampler.settings.steps - 1) * model.logitsFlops(batch: 2 * n, textTokens: S)
        r.add(n == 8 ? "base-generate-8" : "base-generate", "generation, \(n) prompt(s), \(sampler.settings.steps) steps + guidance, sampler.maskgit (\(String(format: "%.3f", t / Double(n))) s/image)",
              flops: flops, seconds: t)
    }
}
