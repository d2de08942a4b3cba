import Foundation
import MuseCore

/// Vector quantizer with an l2-normalised codebook and cosine lookup (as in
/// ViT-VQGAN, Yu et al. 2022, and MaskGIT's improved VQGAN).
///
/// Each pixel's D-vector of `z [B, D, H, W]` is l2-normalised (`ẑ = z / |z|`), matched to
/// the normalised entry `ê_k = e_k / |e_k|` of highest cosine, and replaced by it;
/// the gradient passes straight through to `ẑ` (then through the normalisation to z).
/// Losses on the normalised vectors: codebook `mean((ê - sg[ẑ])^2)` and commitment
/// `beta * mean((ẑ - sg[ê])^2)`; the codebook is a parameter trained by the first.
/// Names: `codebook [K, D]` (parameter), `usage [K]` (buffer: EMA of assignment counts,
/// for dead-code re-initialisation from the batch).
public final class CosineCodebookQuantizer: Module {
    public let codes: Int, dim: Int
    public let beta: Float
    public let codebook: Parameter
    public let usage: Parameter
    /// EMA decay of `usage` per training forward.
    public var usageDecay: Float = 0.99
    /// Runs the lookup GEMM.
    public let backend: ComputeBackend

    private var zhat: [Float] = []     // [N, D] normalised inputs, channels last
    private var znorm: [Float] = []    // [N] |z|
    private var ehat: [Float] = []     // [K, D] normalised codebook
    private var enorm: [Float] = []    // [K]
    private var indices: [Int] = []
    private var shape: [Int] = []

    public init(codes: Int, dim: Int, beta: Float = 0.25, backend: ComputeBackend = Engine.backend, rng: inout SeededRNG) {
        self.backend = backend
        self.codes = codes; self.dim = dim; self.beta = beta
        codebook = Parameter(Tensor.randn([codes, dim], rng: &rng), decays: false)
        usage = Parameter(Tensor(zeros: [codes], value: 1), decays: false)
    }

    public var namedParameters: [(name: String, param: Parameter)] { [("codebook", codebook)] }
    public var namedBuffers: [(name: String, param: Parameter)] { [("usage", usage)] }

    public struct Output {
        /// Normalised entries `[B, D, H, W]`.
        public let quantized: Tensor
        /// Code ids `[B * H * W]`, (b, y, x) order.
        public let indices: [Int]
        /// `mean((ê - ẑ)^2)` over all elements.
        public let mse: Float
        /// `(1 + beta) * mse`: codebook plus commitment loss (`backward` includes both gradients).
        public let loss: Float
    }

    /// Normalises rows of `[n, D]` in place; returns their norms (floored at 1e-12).
    private static func normalise(_ rows: inout [Float], n: Int, d: Int) -> [Float] {
        var norms = [Float](repeating: 0, count: n)
        for i in 0..<n {
            var s: Float = 0
            for j in 0..<d { s += rows[i * d + j] * rows[i * d + j] }
            let r = max(s.squareRoot(), 1e-12)
            norms[i] = r
            for j in 0..<d { rows[i * d + j] /= r }
        }
        return norms
    }

    /// Normalised codebook `[K, D]`.
    public func normalisedCodebook() -> [Float] {
        var e = codebook.value.data
        _ = CosineCodebookQuantizer.normalise(&e, n: codes, d: dim)
        return e
    }

    /// Highest-cosine entry per normalised row (ties to the lowest id).
    func nearest(_ rows: [Float], count N: Int, codebook e: [Float]) -> [Int] {
        let K = codes, D = dim
        var out = [Int](repeating: 0, count: N)
        let block = 64, blocks = (N + block - 1) / block
        rows.withUnsafeBufferPointer { zp in e.withUnsafeBufferPointer { ep in out.withUnsafeMutableBufferPointer { op in
            let Z = zp.baseAddress!, E = ep.baseAddress!, O = op.baseAddress!, backend = self.backend
            Parallel.forChunks(blocks) { _, range in
                let scores = UnsafeMutablePointer<Float>.allocate(capacity: block * K)
                defer { scores.deallocate() }
                for bl in range {
                    let r0 = bl * block, rn = min(block, N - r0)
                    backend.gemm(transA: false, transB: true, m: rn, n: K, k: D, alpha: 1, a: Z + r0 * D, lda: D,
                                 b: E, ldb: D, beta: 0, c: scores, ldc: K)
                    for i in 0..<rn {
                        let s = scores + i * K
                        var best = 0, bestS = -Float.infinity
                        for k in 0..<K where s[k] > bestS { bestS = s[k]; best = k }
                        O[r0 + i] = best
                    }
                }
            }
        }}}
        return out
    }

    /// z `[B, D, H, W]` -> quantized output; `training` updates `usage`.
    public func forward(_ z: Tensor, training: Bool = false) -> Output {
        require(z.rank == 4 && z.shape[1] == dim, "CosineCodebookQuantizer.forward: input shape \(z.shape), expected [B, \(dim), H, W]")
        shape = z.shape
        let B = z.shape[0], HW = z.shape[2] * z.shape[3], D = dim, N = B * HW
        zhat = [Float](repeating: 0, count: N * D)
        for b in 0..<B { for d in 0..<D { for p in 0..<HW { zhat[(b * HW + p) * D + d] = z.data[(b * D + d) * HW + p] } } }
        znorm = CosineCodebookQuantizer.normalise(&zhat, n: N, d: D)
        ehat = codebook.value.data
        enorm = CosineCodebookQuantizer.normalise(&ehat, n: codes, d: D)
        indices = nearest(zhat, count: N, codebook: ehat)
        var q = Tensor(zeros: z.shape)
        var sq = 0.0
        for b in 0..<B { for d in 0..<D { for p in 0..<HW {
            let n = b * HW + p, e = ehat[indices[n] * D + d]
            q.data[(b * D + d) * HW + p] = e
            let diff = Double(e - zhat[n * D + d]); sq += diff * diff
        } } }
        if training {
            var counts = [Float](repeating: 0, count: codes)
            for k in indices { counts[k] += 1 }
            for k in 0..<codes { usage.value.data[k] = usageDecay * usage.value.data[k] + (1 - usageDecay) * counts[k] }
        }
        let mse = Float(sq / Double(max(1, N * D)))
        return Output(quantized: q, indices: indices, mse: mse, loss: (1 + beta) * mse)
    }

    /// dq `[B, D, H, W]` -> dz. Straight-through to ẑ plus the commitment gradient
    /// `2 beta (ẑ - ê) / (N D)`, then through `ẑ = z / |z|`: `dz = (dẑ - ẑ (ẑ . dẑ)) / |z|`.
    /// Accumulates the codebook gradient `2 (ê - ẑ) / (N D)` through `ê = e / |e|`.
    public func backward(_ dq: Tensor) -> Tensor {
        require(dq.shape == shape, "CosineCodebookQuantizer.backward: gradient shape \(dq.shape), expected \(shape)")
        let B = shape[0], D = dim, HW = shape[2] * shape[3], N = B * HW
        let k2 = 2 / Float(N * D)
        var dzhat = [Float](repeating: 0, count: N * D)
        var dehat = [Float](repeating: 0, count: codes * D)
        for b in 0..<B { for d in 0..<D { for p in 0..<HW {
            let n = b * HW + p, k = indices[n]
            let diff = zhat[n * D + d] - ehat[k * D + d]
            dzhat[n * D + d] = dq.data[(b * D + d) * HW + p] + beta * k2 * diff
            dehat[k * D + d] -= k2 * diff
        } } }
        var dz = Tensor(zeros: shape)
        for n in 0..<N {
            var dot: Float = 0
            for d in 0..<D { dot += zhat[n * D + d] * dzhat[n * D + d] }
            let b = n / HW, p = n % HW
            for d in 0..<D { dz.data[(b * D + d) * HW + p] = (dzhat[n * D + d] - zhat[n * D + d] * dot) / znorm[n] }
        }
        var used = [Bool](repeating: false, count: codes)
        for k in indices { used[k] = true }
        for k in 0..<codes where used[k] {
            var dot: Float = 0
            for d in 0..<D { dot += ehat[k * D + d] * dehat[k * D + d] }
            for d in 0..<D { codebook.grad.data[k * D + d] += (dehat[k * D + d] - ehat[k * D + d] * dot) / enorm[k] }
        }
        return dz
    }

    /// Normalised entries `[B, D, H, W]` of ids laid out `[B, H, W]`.
    public func values(ids: [Int], batch B: Int, height H: Int, width W: Int) -> Tensor {
        require(ids.count == B * H * W, "CosineCodebookQuantizer.values: \(ids.count) ids for a [\(B), \(H), \(W)] grid")
        let e = normalisedCodebook(), D = dim, HW = H * W
        var q = Tensor(zeros: [B, D, H, W])
        for b in 0..<B { for p in 0..<HW {
            let k = ids[b * HW + p]
            require(k >= 0 && k < codes, "CosineCodebookQuantizer.values: id \(k) outside 0..<\(codes)")
            for d in 0..<D { q.data[(b * D + d) * HW + p] = e[k * D + d] }
        } }
        return q
    }

    /// Replaces every entry whose `usage` is below `minUsage` with a random input
    /// vector of the last forward pass. Returns how many were replaced.
    @discardableResult
    public func resetDeadCodes(minUsage: Float, rng: inout SeededRNG) -> Int {
        let N = indices.count, D = dim
        guard N > 0 else { return 0 }
        var reset = 0
        for k in 0..<codes where usage.value.data[k] < minUsage {
            let n = rng.int(N)
            for j in 0..<D { codebook.value.data[k * D + j] = zhat[n * D + j] }
            usage.value.data[k] = 1
            reset += 1
        }
        return reset
    }
}
