import Foundation
import MuseCore
import MuseEngine

/// One batch for the base transformer: B token grids with their text conditioning.
public struct BaseBatch {
    /// Input ids `[B * T]`, row-major grids; masked positions hold `maskID`.
    public var tokens: [Int]
    /// Text encoder hidden states `[B, S, textDim]`, zero rows past each prompt's length.
    public var text: Tensor
    /// `[B * S]`: true for real text tokens.
    public var textMask: [Bool]
    /// `[B]`: true where the example is unconditional (the learned null context replaces the text).
    public var isNull: [Bool]

    public init(tokens: [Int], text: Tensor, textMask: [Bool], isNull: [Bool]) {
        self.tokens = tokens; self.text = text; self.textMask = textMask; self.isNull = isNull
    }

    /// Number of examples.
    public var count: Int { isNull.count }

    /// Examples `range` as a batch of their own.
    public func slice(_ range: Range<Int>) -> BaseBatch {
        let B = count, S = text.shape[1], C = text.shape[2], T = tokens.count / max(1, B)
        let n = range.count
        let t = Tensor(shape: [n, S, C], data: Array(text.data[(range.lowerBound * S * C)..<(range.upperBound * S * C)]))
        return BaseBatch(tokens: Array(tokens[(range.lowerBound * T)..<(range.upperBound * T)]), text: t,
                         textMask: Array(textMask[(range.lowerBound * S)..<(range.upperBound * S)]),
                         isNull: Array(isNull[range]))
    }

    /// Packs text embeddings (nil = unconditional) into `[B, S, dim]` with S the
    /// longest prompt (at least 1). Throws when a prompt is longer than `maxTokens`
    /// or has another width.
    public static func packText(_ texts: [TextEmbedding?], dim: Int, maxTokens: Int) throws -> (text: Tensor, mask: [Bool], isNull: [Bool]) {
        var S = 1
        for t in texts {
            guard let t else { continue }
            guard t.dim == dim else { throw MuseError("base transformer: text embedding width \(t.dim), the model reads \(dim) (another text encoder?)") }
            guard t.count <= maxTokens else {
                throw MuseError("base transformer: the prompt has \(t.count) tokens, the model reads at most \(maxTokens) (shorten the prompt)")
            }
            S = max(S, t.count)
        }
        var data = [Float](repeating: 0, count: texts.count * S * dim)
        var mask = [Bool](repeating: false, count: texts.count * S)
        for (b, t) in texts.enumerated() {
            guard let t else { continue }
            for s in 0..<t.count {
                mask[b * S + s] = t.mask[s] > 0.5
                for j in 0..<dim { data[(b * S + s) * dim + j] = t.hidden[s * dim + j] }
            }
        }
        return (Tensor(shape: [texts.count, S, dim], data: data), mask, texts.map { $0 == nil })
    }
}

/// The base masked transformer (paper section 2.3): text hidden states projected
/// to the width and layer-normed (a learned null context for unconditional
/// examples), image token embeddings with a [MASK] id plus learned 2D position
/// embeddings, `depth` pre-LN blocks of self-attention, cross-attention to the
/// text (key padding mask) and MLP, a final LayerNorm and a head to codebook logits.
///
/// Parameter names: `text_proj.*`, `text_norm.*`, `null_context` `[1, D]`,
/// `token_embedding.weight` `[V + 1, D]`, `positions` `[T, D]`, `blocks.i.*`,
/// `final_norm.*`, `head.*`. A weights file carries the architecture
/// (`muse.base`, JSON) and the codebook name (`muse.codebook`) in its metadata.
public final class BaseTransformerModel: Module {
    public let config: BaseTransformerConfig
    /// The token vocabulary the model predicts (token grids carry it; decoders check it).
    public let codebookName: String
    public let backendName: String
    let textProj: Linear, textNorm: LayerNorm
    let nullContext: Parameter
    let tokenEmbedding: Embedding
    let positions: Parameter
    let blocks: [TransformerBlock]
    let finalNorm: LayerNorm, head: Linear

    // Forward caches of the training pass.
    private var cachedBatch = 0, cachedS = 0
    private var cachedNull: [Bool] = []

    public init(_ config: BaseTransformerConfig, codebookName: String, seed: UInt64, backend: ComputeBackend = Engine.backend) throws {
        try config.validate()
        self.config = config
        self.codebookName = codebookName
        backendName = backend.name
        var rng = SeededRNG(seed: seed)
        let D = config.width
        textProj = Linear(config.textDim, D, backend: backend, rng: &rng)
        textNorm = LayerNorm(D)
        nullContext = Parameter(Tensor.randn([1, D], std: 0.02, rng: &rng), decays: false)
        tokenEmbedding = Embedding(count: config.codebookSize + 1, dim: D, std: 0.02, rng: &rng)
        positions = Parameter(Tensor.randn([config.tokens, D], std: 0.02, rng: &rng), decays: false)
        var b: [TransformerBlock] = []
        for _ in 0..<config.depth {
            b.append(TransformerBlock(dim: D, heads: config.heads, mlpRatio: config.mlpRatio, contextDim: D, backend: backend, rng: &rng))
        }
        blocks = b
        finalNorm = LayerNorm(D)
        head = Linear(D, config.codebookSize, std: 0.02, backend: backend, rng: &rng)
    }

    public var namedParameters: [(name: String, param: Parameter)] {
        nest("text_proj", textProj) + nest("text_norm", textNorm) + [("null_context", nullContext)]
            + nest("token_embedding", tokenEmbedding) + [("positions", positions)]
            + nest("blocks", blocks) + nest("final_norm", finalNorm) + nest("head", head)
    }

    /// Metadata that makes a weights file self-describing.
    public var metadata: [String: String] {
        ["muse.base": config.json(), "muse.codebook": codebookName, "muse.kind": "base-transformer"]
    }

    // MARK: Text context

    /// ctx `[B, S, D]` = LN(text_proj(text)); unconditional rows: row 0 = null_context,
    /// the others zero and masked. Returns the context and its key mask `[B * S]`.
    private func context(_ batch: BaseBatch) -> (Tensor, [Bool]) {
        let B = batch.count, S = batch.text.shape[1], D = config.width
        var ctx = textNorm.forward(textProj.forward(batch.text))
        var mask = batch.textMask
        for b in 0..<B where batch.isNull[b] {
            for s in 0..<S {
                mask[b * S + s] = s == 0
                for j in 0..<D { ctx.data[(b * S + s) * D + j] = s == 0 ? nullContext.value.data[j] : 0 }
            }
        }
        return (ctx, mask)
    }

    /// Backward of `context`: dctx `[B, S, D]` -> gradients of null_context, text_norm, text_proj.
    private func contextBackward(_ dctx0: Tensor) {
        var dctx = dctx0
        let B = cachedBatch, S = cachedS, D = config.width
        for b in 0..<B where cachedNull[b] {
            for s in 0..<S {
                for j in 0..<D {
                    if s == 0 { nullContext.grad.data[j] += dctx.data[(b * S) * D + j] }
                    dctx.data[(b * S + s) * D + j] = 0
                }
            }
        }
        _ = textProj.backward(textNorm.backward(dctx))
    }

    // MARK: Training forward / backward

    /// Validates a batch against the model.
    private func check(_ batch: BaseBatch) throws {
        let B = batch.count, T = config.tokens
        guard batch.tokens.count == B * T else {
            throw MuseError("base transformer: \(batch.tokens.count) token ids for \(B) grids of \(T) tokens")
        }
        guard batch.text.rank == 3, batch.text.shape[0] == B, batch.text.shape[2] == config.textDim,
              batch.text.shape[1] >= 1, batch.text.shape[1] <= config.maxTextTokens,
              batch.textMask.count == B * batch.text.shape[1] else {
            throw MuseError("base transformer: text \(batch.text.shape) with \(batch.textMask.count) mask entries; expected [\(B), 1...\(config.maxTextTokens), \(config.textDim)]")
        }
        if let bad = batch.tokens.first(where: { $0 < 0 || $0 > config.maskID }) {
            throw MuseError("base transformer: token id \(bad) outside 0...\(config.maskID) (\(config.maskID) is [MASK])")
        }
    }

    /// Training forward: logits `[B, T, V]` (caches activations for `backward`).
    public func forward(_ batch: BaseBatch) throws -> Tensor {
        try check(batch)
        let B = batch.count, T = config.tokens, D = config.width
        cachedBatch = B; cachedS = batch.text.shape[1]; cachedNull = batch.isNull
        let (ctx, cmask) = context(batch)
        var x = try tokenEmbedding.forward(batch.tokens, shape: [B, T])
        addPositions(&x, B: B, T: T, D: D)
        for block in blocks { x = block.forward(x, context: ctx, contextMask: cmask) }
        return head.forward(finalNorm.forward(x))
    }

    /// dlogits `[B, T, V]` -> parameter gradients (accumulated).
    public func backward(_ dlogits: Tensor) {
        let B = cachedBatch, T = config.tokens, D = config.width
        var dx = finalNorm.backward(head.backward(dlogits))
        var dctx = Tensor(zeros: [B, cachedS, D])
        for block in blocks.reversed() {
            let g = block.backward(dx)
            dx = g.dx
            if let dc = g.dcontext { dctx.add(dc) }
        }
        // positions: sum over the batch; token embeddings: scatter.
        for b in 0..<B { for t in 0..<T { for j in 0..<D { positions.grad.data[t * D + j] += dx.data[(b * T + t) * D + j] } } }
        tokenEmbedding.backward(dx)
        contextBackward(dctx)
    }

    private func addPositions(_ x: inout Tensor, B: Int, T: Int, D: Int) {
        positions.value.data.withUnsafeBufferPointer { p in
            x.data.withUnsafeMutableBufferPointer { xp in
                for b in 0..<B { for i in 0..<(T * D) { xp[b * T * D + i] += p[i] } }
            }
        }
    }

    /// Result of one training step.
    public struct StepResult {
        /// Mean cross-entropy (with label smoothing) over the masked positions.
        public var loss: Float
        /// Masked positions whose arg-max logit is the target.
        public var correct: Int
        /// Masked positions.
        public var masked: Int
    }

    /// Forward + backward of one batch in passes of at most `passRows` examples
    /// (gradient accumulation: the same gradients as one pass, less memory and
    /// better cache use). Loss: cross-entropy on the positions where `selected`
    /// (the masked ones), averaged over all of them in the batch. Gradients are
    /// accumulated into the parameters' `grad` (zero them first).
    /// - Parameters: targets: true ids `[B * T]`; selected: `[B * T]`.
    public func trainStep(_ batch: BaseBatch, targets: [Int], selected: [Bool], labelSmoothing: Float, passRows: Int) throws -> StepResult {
        let B = batch.count, T = config.tokens, V = config.codebookSize
        guard targets.count == B * T, selected.count == B * T else {
            throw MuseError("base transformer: \(targets.count) targets and \(selected.count) selection flags for \(B * T) tokens")
        }
        let total = selected.filter { $0 }.count
        guard total > 0 else { return StepResult(loss: 0, correct: 0, masked: 0) }
        var loss = 0.0, correct = 0
        var start = 0
        while start < B {
            let end = min(B, start + max(1, passRows))
            let part = batch.slice(start..<end)
            let logits = try forward(part)
            let sel = Array(selected[(start * T)..<(end * T)]), tg = Array(targets[(start * T)..<(end * T)])
            let n = sel.filter { $0 }.count
            if n > 0 {
                let r = Losses.crossEntropy(logits: logits, targets: tg, selected: sel, labelSmoothing: labelSmoothing)
                let w = Float(n) / Float(total)
                var grad = r.grad
                grad.scale(w)
                loss += Double(r.loss) * Double(w)
                for i in 0..<sel.count where sel[i] {
                    var best = 0
                    var m = -Float.infinity
                    for v in 0..<V where logits.data[i * V + v] > m { m = logits.data[i * V + v]; best = v }
                    if best == tg[i] { correct += 1 }
                }
                backward(grad)
            }
            start = end
        }
        return StepResult(loss: Float(loss), correct: correct, masked: total)
    }

    /// FLOPs of one training forward pass for `batch` examples with `textTokens` text tokens
    /// (GEMMs only; backward is about twice this).
    public func forwardFlops(batch: Int, textTokens: Int) -> Double {
        let B = Double(batch), T = Double(config.tokens), S = Double(textTokens), D = Double(config.width)
        let V = Double(config.codebookSize), C = Double(config.textDim), H = Double(config.mlpRatio) * D
        let perBlock = 2 * B * T * D * D * 4            // self q, k, v, o
            + 2 * B * T * D * D * 2 + 2 * B * S * D * D * 2  // cross q, o; k, v
            + 4 * B * T * T * D + 4 * B * T * S * D           // attention cores
            + 2 * B * T * D * H * 2                          // MLP
        return 2 * B * S * C * D + Double(config.depth) * perBlock + 2 * B * T * D * V
    }

    /// FLOPs of one `logits` call for `batch` grids (the text projection and the
    /// cross-attention keys/values were computed once in `prepare`).
    public func logitsFlops(batch: Int, textTokens: Int) -> Double {
        let B = Double(batch), S = Double(textTokens), D = Double(config.width)
        return forwardFlops(batch: batch, textTokens: textTokens) - 2 * B * S * Double(config.textDim) * D
            - Double(config.depth) * 2 * B * S * D * D * 2
    }

    // MARK: Inference with text keys/values computed once

    /// Cross-attention keys and values of every block for a set of conditionings,
    /// computed once per prompt and reused at every sampling step.
    public final class Prepared {
        /// Number of conditionings.
        public let count: Int
        /// The model that prepared it (only it can use it).
        public unowned let model: BaseTransformerModel
        let S: Int
        /// Per block: keys and values `[N, S, D]`.
        let keys: [Tensor], values: [Tensor]
        let mask: [Bool]
        init(model: BaseTransformerModel, count: Int, S: Int, keys: [Tensor], values: [Tensor], mask: [Bool]) {
            self.model = model; self.count = count; self.S = S; self.keys = keys; self.values = values; self.mask = mask
        }
    }

    private let inferenceLock = NSLock()

    /// Computes the text context and each block's cross-attention K/V for `texts`
    /// (nil = unconditional: the null context).
    public func prepare(_ texts: [TextEmbedding?]) throws -> Prepared {
        let packed = try BaseBatch.packText(texts, dim: config.textDim, maxTokens: config.maxTextTokens)
        let batch = BaseBatch(tokens: [], text: packed.text, textMask: packed.mask, isNull: packed.isNull)
        inferenceLock.lock(); defer { inferenceLock.unlock() }
        let (ctx, mask) = context(batch)
        var ks: [Tensor] = [], vs: [Tensor] = []
        for block in blocks {
            guard let cross = block.cross else { throw MuseError("base transformer: block without cross-attention") }
            ks.append(cross.k.forward(ctx)); vs.append(cross.v.forward(ctx))
        }
        return Prepared(model: self, count: texts.count, S: packed.text.shape[1], keys: ks, values: vs, mask: mask)
    }

    /// Logits `[N, T, V]` (flat) for `N = prepared.count` grids `tokens` `[N * T]`
    /// under the prepared conditionings (item i uses conditioning i). Equal to the
    /// training forward of the same batch.
    public func logits(tokens: [Int], prepared: Prepared) throws -> [Float] {
        let N = prepared.count, T = config.tokens, D = config.width
        guard prepared.model === self else { throw MuseError("base transformer: the conditioning was prepared by another model") }
        guard tokens.count == N * T else {
            throw MuseError("base transformer: \(tokens.count) token ids for \(N) conditionings of \(T)-token grids")
        }
        if let bad = tokens.first(where: { $0 < 0 || $0 > config.maskID }) {
            throw MuseError("base transformer: token id \(bad) outside 0...\(config.maskID) (\(config.maskID) is [MASK])")
        }
        inferenceLock.lock(); defer { inferenceLock.unlock() }
        var x = try tokenEmbedding.forward(tokens, shape: [N, T])
        addPositions(&x, B: N, T: T, D: D)
        for (i, block) in blocks.enumerated() {
            let cross = block.cross!, norm2 = block.norm2!
            x.add(block.attn.forward(block.norm1.forward(x)))
            let q = cross.q.forward(norm2.forward(x))
            x.add(cross.o.forward(cross.core.forward(q: q, k: prepared.keys[i], v: prepared.values[i], keyMask: prepared.mask)))
            x.add(block.mlp.forward(block.norm3.forward(x)))
        }
        return head.forward(finalNorm.forward(x)).data
    }

    // MARK: Weights

    /// Reads the architecture and codebook name from a weights file's metadata and
    /// loads every tensor; a tensor no parameter asks for is an error.
    public static func load(contentsOf url: URL, backend: ComputeBackend = Engine.backend) throws -> BaseTransformerModel {
        let reader = try CheckpointReader(url)
        guard let json = reader.metadata["muse.base"] else {
            throw MuseError("\(url.path): not base-transformer weights (no 'muse.base' metadata)")
        }
        guard let name = reader.metadata["muse.codebook"], !name.isEmpty else {
            throw MuseError("\(url.path): no 'muse.codebook' metadata naming the codebook")
        }
        let config = try BaseTransformerConfig.parse(json: json, source: url.path)
        let model = try BaseTransformerModel(config, codebookName: name, seed: 0, backend: backend)
        try model.loadStrict(from: reader, what: "base transformer")
        return model
    }

    /// Writes the weights with their metadata to one safetensors file (atomic), F32 or F16.
    public func saveWeights(to url: URL, dtype: SafeTensorDType = .f32, extra: [String: String] = [:]) throws {
        try saveWeights(to: url, dtype: dtype, metadata: metadata.merging(extra) { a, _ in a }, what: "base transformer")
    }
}
