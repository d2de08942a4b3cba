import Foundation
import MuseCore

/// Vector quantizer of a VQ-VAE / VQGAN (van den Oord et al. 2017; EMA variant
/// as in Razavi et al. 2019 and Sonnet's `VectorQuantizerEMA`).
///
/// Each pixel's D-vector of `z [B, D, H, W]` is replaced by its nearest codebook
/// entry (squared L2); the gradient passes straight through to z.
/// Losses: codebook `mean((e - sg[z])^2)` (only in `.loss` mode) and commitment
/// `beta * mean((z - sg[e])^2)`. In `.ema` mode the codebook is not trained by
/// gradient but moved to the running mean of the vectors assigned to each code
/// (during `forward(training: true)`), and it is a buffer, not a parameter.
///
/// Names: `codebook [K, D]`; buffers `usage [K]` (EMA of assignment counts, for
/// dead-code reset), and in `.ema` mode `ema_count [K]`, `ema_sum [K, D]`.
public final class VectorQuantizer: Module {
    public enum Update: Equatable, Sendable {
        /// Codebook trained by the codebook loss through the optimizer.
        case loss
        /// Codebook moved by exponential moving averages with this decay (e.g. 0.99).
        case ema(decay: Float)
    }

    public let codes: Int, dim: Int
    public let beta: Float
    public let update: Update
    public let codebook: Parameter
    public let usage: Parameter
    public let emaCount: Parameter, emaSum: Parameter
    /// The backend of the nearest-entry GEMMs (fixed at init).
    public let backend: ComputeBackend
    /// EMA decay of `usage` (per training forward).
    public var usageDecay: Float = 0.99
    /// Laplace smoothing of EMA cluster sizes.
    public var epsilon: Float = 1e-5

    private var rowsZ: [Float] = []      // [N, D] inputs, channels last
    private var indices: [Int] = []      // [N]
    private var shape: [Int] = []

    /// - Parameters: codes: K entries; dim: D; beta: commitment weight (0.25 in the VQ-VAE paper);
    ///   backend: runs the nearest-entry GEMMs (default: `Engine.backend`).
    public init(codes: Int, dim: Int, beta: Float = 0.25, update: Update = .loss,
                backend: ComputeBackend = Engine.backend, rng: inout SeededRNG) {
        self.backend = backend
        self.codes = codes; self.dim = dim; self.beta = beta; self.update = update
        let bound = 1 / Float(codes)
        let cb = Tensor.uniform([codes, dim], low: -bound, high: bound, rng: &rng)
        codebook = Parameter(cb, decays: false)
        usage = Parameter(Tensor(zeros: [codes], value: 1), decays: false)
        emaCount = Parameter(Tensor(zeros: [codes], value: 1), decays: false)
        emaSum = Parameter(cb, decays: false)
    }

    public var namedParameters: [(name: String, param: Parameter)] {
        update == .loss ? [("codebook", codebook)] : []
    }

    public var namedBuffers: [(name: String, param: Parameter)] {
        update == .loss ? [("usage", usage)]
            : [("codebook", codebook), ("usage", usage), ("ema_count", emaCount), ("ema_sum", emaSum)]
    }

    /// Result of quantizing a batch.
    public struct Output {
        /// Quantized vectors `[B, D, H, W]` (value of the nearest entries).
        public let quantized: Tensor
        /// Code ids `[B * H * W]` in row-major (b, y, x) order.
        public let indices: [Int]
        /// `mean((e - z)^2)` over all elements (the codebook loss value, `.loss` mode).
        public let codebookLoss: Float
        /// `mean((z - e)^2)` (unweighted commitment loss value).
        public let commitmentLoss: Float
        /// The loss to add to the training objective: `beta * commitment`, plus the
        /// codebook loss in `.loss` mode. `backward` includes its gradients.
        public let loss: Float
    }

    /// Nearest entry per row of `rows [N, D]` (argmin of `|e|^2 - 2 z.e`; ties to the lowest id).
    public func nearest(_ rows: [Float], count N: Int) -> [Int] {
        let K = codes, D = dim
        var out = [Int](repeating: 0, count: N)
        var norms = [Float](repeating: 0, count: K)
        codebook.value.data.withUnsafeBufferPointer { e in
            for k in 0..<K { var s: Float = 0; for j in 0..<D { s += e[k * D + j] * e[k * D + j] }; norms[k] = s }
        }
        let block = 64
        let blocks = (N + block - 1) / block
        rows.withUnsafeBufferPointer { zp in codebook.value.data.withUnsafeBufferPointer { ep in
        out.withUnsafeMutableBufferPointer { op in norms.withUnsafeBufferPointer { np in
            let Z = zp.baseAddress!, E = ep.baseAddress!, O = op.baseAddress!, NR = np.baseAddress!
            let be = backend
            Parallel.forChunks(blocks) { _, range in
                let scores = UnsafeMutablePointer<Float>.allocate(capacity: block * K)
                defer { scores.deallocate() }
                for bl in range {
                    let r0 = bl * block, rn = min(block, N - r0)
                    // scores[rn, K] = Z[rn, D] * E[K, D]^T
                    be.gemm(transA: false, transB: true, m: rn, n: K, k: D, alpha: 1, a: Z + r0 * D, lda: D,
                            b: E, ldb: D, beta: 0, c: scores, ldc: K)
                    for i in 0..<rn {
                        let s = scores + i * K
                        var best = 0, bestD = Float.infinity
                        for k in 0..<K { let d = NR[k] - 2 * s[k]; if d < bestD { bestD = d; best = k } }
                        O[r0 + i] = best
                    }
                }
            }
        }}}}
        return out
    }

    /// z: `[B, D, H, W]` -> quantized output. With `training`, updates `usage`
    /// and, in `.ema` mode, the codebook statistics and the codebook itself.
    public func forward(_ z: Tensor, training: Bool = false) -> Output {
        require(z.rank == 4 && z.shape[1] == dim, "VectorQuantizer.forward: input shape \(z.shape), expected [B, \(dim), H, W]")
        shape = z.shape
        let B = z.shape[0], HW = z.shape[2] * z.shape[3], D = dim, N = B * HW
        rowsZ = [Float](repeating: 0, count: N * D)
        for b in 0..<B { for d in 0..<D { for p in 0..<HW { rowsZ[(b * HW + p) * D + d] = z.data[(b * D + d) * HW + p] } } }
        indices = nearest(rowsZ, count: N)
        var q = Tensor(zeros: z.shape)
        var sq = 0.0
        let E = codebook.value.data
        for b in 0..<B { for d in 0..<D { for p in 0..<HW {
            let e = E[indices[b * HW + p] * D + d]
            q.data[(b * D + d) * HW + p] = e
            let diff = Double(e - z.data[(b * D + d) * HW + p]); sq += diff * diff
        } } }
        let mse = Float(sq / Double(max(1, N * D)))
        if training { train(count: N) }
        let loss = beta * mse + (update == .loss ? mse : 0)
        return Output(quantized: q, indices: indices, codebookLoss: mse, commitmentLoss: mse, loss: loss)
    }

    /// Usage statistics and (EMA mode) codebook update from the last forward's assignments.
    private func train(count N: Int) {
        let K = codes, D = dim
        var counts = [Float](repeating: 0, count: K)
        var sums = [Float](repeating: 0, count: K * D)
        for n in 0..<N {
            let k = indices[n]
            counts[k] += 1
            for j in 0..<D { sums[k * D + j] += rowsZ[n * D + j] }
        }
        for k in 0..<K { usage.value.data[k] = usageDecay * usage.value.data[k] + (1 - usageDecay) * counts[k] }
        guard case .ema(let g) = update else { return }
        var total: Float = 0
        for k in 0..<K {
            emaCount.value.data[k] = g * emaCount.value.data[k] + (1 - g) * counts[k]
            total += emaCount.value.data[k]
        }
        for k in 0..<K {
            let smoothed = (emaCount.value.data[k] + epsilon) / (total + Float(K) * epsilon) * total
            for j in 0..<D {
                let i = k * D + j
                emaSum.value.data[i] = g * emaSum.value.data[i] + (1 - g) * sums[i]
                codebook.value.data[i] = emaSum.value.data[i] / smoothed
            }
        }
    }

    /// dq: gradient w.r.t. the quantized output `[B, D, H, W]` -> dz `[B, D, H, W]`:
    /// straight-through `dq` plus the commitment gradient `2 beta (z - e) / (N D)`.
    /// In `.loss` mode accumulates the codebook gradient `2 (e - z) / (N D)` per assigned row.
    public func backward(_ dq: Tensor) -> Tensor {
        require(dq.shape == shape, "VectorQuantizer.backward: gradient shape \(dq.shape), expected \(shape)")
        let B = shape[0], D = dim, HW = shape[2] * shape[3], N = B * HW
        let k2 = 2 / Float(N * D)
        var dz = dq
        let E = codebook.value.data
        for b in 0..<B { for d in 0..<D { for p in 0..<HW {
            let n = b * HW + p, i = (b * D + d) * HW + p
            let diff = rowsZ[n * D + d] - E[indices[n] * D + d]
            dz.data[i] += beta * k2 * diff
            if update == .loss { codebook.grad.data[indices[n] * D + d] -= k2 * diff }
        } } }
        return dz
    }

    /// Replaces every code whose `usage` is below `minUsage` with a random input
    /// vector from the last forward pass (and resets its statistics). Returns how many.
    @discardableResult
    public func resetDeadCodes(minUsage: Float, rng: inout SeededRNG) -> Int {
        let N = indices.count, D = dim
        guard N > 0 else { return 0 }
        var reset = 0
        for k in 0..<codes where usage.value.data[k] < minUsage {
            let n = rng.int(N)
            for j in 0..<D {
                codebook.value.data[k * D + j] = rowsZ[n * D + j]
                emaSum.value.data[k * D + j] = rowsZ[n * D + j]
            }
            emaCount.value.data[k] = 1
            usage.value.data[k] = 1
            reset += 1
        }
        return reset
    }
}
