import Foundation
import MuseCore

/// Multi-head scaled dot-product attention core (no projections):
/// per batch b and head h, `O = softmax(Q K^T / sqrt(dh) + mask) V`, computed for
/// all B x H pairs in parallel. Heads are column slices of width `dh = D / heads`
/// of `[B, T, D]` tensors (no transposes). Matches PyTorch's
/// `scaled_dot_product_attention` with a boolean key padding mask.
public final class ScaledDotProductAttention {
    public let heads: Int
    /// The backend of the per-head GEMMs (fixed at init).
    public let backend: ComputeBackend
    private var q = Tensor(zeros: [0]), k = Tensor(zeros: [0]), v = Tensor(zeros: [0])
    private var probs: [Float] = []   // [B, H, T, S]

    /// - Parameters: heads: number of heads; backend: runs the GEMMs (default: `Engine.backend`).
    public init(heads: Int, backend: ComputeBackend = Engine.backend) { self.heads = heads; self.backend = backend }

    /// - Parameters:
    ///   - q: queries `[B, T, D]`; k, v: keys and values `[B, S, D]`.
    ///   - keyMask: `[B * S]`, true where the key may be attended (nil: all). Query rows
    ///     whose keys are all masked give zeros.
    /// - Returns: `[B, T, D]`. Caches q, k, v and the probabilities `[B, H, T, S]`.
    public func forward(q: Tensor, k: Tensor, v: Tensor, keyMask: [Bool]? = nil) -> Tensor {
        require(q.rank == 3 && k.rank == 3 && v.rank == 3 && k.shape == v.shape && q.shape[0] == k.shape[0] && q.shape[2] == k.shape[2],
                "Attention.forward: q \(q.shape), k \(k.shape), v \(v.shape) must be [B, T, D], [B, S, D], [B, S, D]")
        let B = q.shape[0], T = q.shape[1], S = k.shape[1], D = q.shape[2], H = heads
        require(D % H == 0, "Attention.forward: width \(D) not divisible by \(H) heads")
        if let keyMask { require(keyMask.count == B * S, "Attention.forward: key mask has \(keyMask.count) entries, expected B*S = \(B * S)") }
        self.q = q; self.k = k; self.v = v
        let dh = D / H
        let scale = 1 / Float(dh).squareRoot()
        probs = [Float](repeating: 0, count: B * H * T * S)
        var out = Tensor(zeros: [B, T, D])
        let mask = keyMask ?? []
        q.data.withUnsafeBufferPointer { qp in k.data.withUnsafeBufferPointer { kp in v.data.withUnsafeBufferPointer { vp in
        probs.withUnsafeMutableBufferPointer { pp in out.data.withUnsafeMutableBufferPointer { op in mask.withUnsafeBufferPointer { mp in
            let Q = qp.baseAddress!, K = kp.baseAddress!, V = vp.baseAddress!, P = pp.baseAddress!, O = op.baseAddress!
            let M = keyMask == nil ? nil : mp.baseAddress
            let be = backend
            Parallel.forEach(B * H) { bh in
                let b = bh / H, h = bh % H
                let Pb = P + bh * T * S
                // P[T, S] = scale * Q_bh[T, dh] * K_bh[S, dh]^T. Every output here starts as
                // zeros and is written once: beta 1 gives the same values and spares
                // OpenBLAS its pass that clears C for beta 0.
                be.gemm(transA: false, transB: true, m: T, n: S, k: dh, alpha: scale,
                        a: Q + b * T * D + h * dh, lda: D, b: K + b * S * D + h * dh, ldb: D, beta: 1, c: Pb, ldc: S)
                for t in 0..<T {
                    let row = Pb + t * S
                    if let M { for s in 0..<S where !M[b * S + s] { row[s] = -Float.infinity } }
                    softmaxRow(row, S)
                }
                // O_bh[T, dh] = P[T, S] * V_bh[S, dh]
                be.gemm(transA: false, transB: false, m: T, n: dh, k: S, alpha: 1,
                        a: Pb, lda: S, b: V + b * S * D + h * dh, ldb: D, beta: 1, c: O + b * T * D + h * dh, ldc: D)
            }
        }}}}}}
        return out
    }

    /// dout: `[B, T, D]` -> (dq `[B, T, D]`, dk `[B, S, D]`, dv `[B, S, D]`).
    /// dV = P^T dO; dP = dO V^T; dS = P * (dP - rowsum(dP * P)); dQ = scale dS K; dK = scale dS^T Q.
    public func backward(_ dout: Tensor) -> (dq: Tensor, dk: Tensor, dv: Tensor) {
        require(dout.shape == q.shape, "Attention.backward: gradient shape \(dout.shape), expected \(q.shape)")
        let B = q.shape[0], T = q.shape[1], S = k.shape[1], D = q.shape[2], H = heads, dh = D / H
        let scale = 1 / Float(dh).squareRoot()
        var dq = Tensor(zeros: q.shape), dk = Tensor(zeros: k.shape), dv = Tensor(zeros: v.shape)
        let chunks = Parallel.chunkCount(B * H)
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: chunks * T * S)
        defer { scratch.deallocate() }
        q.data.withUnsafeBufferPointer { qp in k.data.withUnsafeBufferPointer { kp in v.data.withUnsafeBufferPointer { vp in
        probs.withUnsafeBufferPointer { pp in dout.data.withUnsafeBufferPointer { gp in
        dq.data.withUnsafeMutableBufferPointer { dqp in dk.data.withUnsafeMutableBufferPointer { dkp in dv.data.withUnsafeMutableBufferPointer { dvp in
            let Q = qp.baseAddress!, K = kp.baseAddress!, V = vp.baseAddress!, P = pp.baseAddress!, G = gp.baseAddress!
            let DQ = dqp.baseAddress!, DK = dkp.baseAddress!, DV = dvp.baseAddress!
            let be = backend
            Parallel.forChunks(B * H) { c, range in
                let dP = scratch + c * T * S
                for bh in range {
                    let b = bh / H, h = bh % H
                    let Pb = P + bh * T * S
                    let qo = b * T * D + h * dh, ko = b * S * D + h * dh
                    // dV_bh[S, dh] = P[T, S]^T * dO_bh[T, dh]. dV, dQ, dK start as zeros and
                    // each head's block is written once (beta 1, as in forward); the
                    // reused dP scratch is overwritten (beta 0).
                    be.gemm(transA: true, transB: false, m: S, n: dh, k: T, alpha: 1,
                            a: Pb, lda: S, b: G + qo, ldb: D, beta: 1, c: DV + ko, ldc: D)
                    // dP[T, S] = dO_bh[T, dh] * V_bh[S, dh]^T
                    be.gemm(transA: false, transB: true, m: T, n: S, k: dh, alpha: 1,
                            a: G + qo, lda: D, b: V + ko, ldb: D, beta: 0, c: dP, ldc: S)
                    for t in 0..<T { softmaxBackwardRow(Pb + t * S, dP + t * S, S) }
                    // dQ_bh[T, dh] = scale * dS[T, S] * K_bh[S, dh]
                    be.gemm(transA: false, transB: false, m: T, n: dh, k: S, alpha: scale,
                            a: dP, lda: S, b: K + ko, ldb: D, beta: 1, c: DQ + qo, ldc: D)
                    // dK_bh[S, dh] = scale * dS[T, S]^T * Q_bh[T, dh]
                    be.gemm(transA: true, transB: false, m: S, n: dh, k: T, alpha: scale,
                            a: dP, lda: S, b: Q + qo, ldb: D, beta: 1, c: DK + ko, ldc: D)
                }
            }
        }}}}}}}}
        return (dq, dk, dv)
    }

    /// FLOPs of one forward pass (the two GEMMs) for these shapes.
    public static func forwardFlops(batch: Int, queries: Int, keys: Int, width: Int) -> Double {
        4 * Double(batch) * Double(queries) * Double(keys) * Double(width)
    }
}

/// Multi-head attention with projections: self-attention (`context == nil`) or
/// cross-attention to a context of width `contextDim`. Parameters: `q`, `k`, `v`, `o`
/// (each a `Linear`, named `q.weight`, `q.bias`, ...).
public final class MultiHeadAttention: Module {
    public let dim: Int, heads: Int, contextDim: Int
    public let q: Linear, k: Linear, v: Linear, o: Linear
    public let core: ScaledDotProductAttention
    private var isCross = false

    /// - Parameters: dim: query/output width D; heads: number of heads (D % heads == 0);
    ///   contextDim: key/value source width (cross-attention; default D); bias: projection biases;
    ///   backend: runs every GEMM of the projections and the core (default: `Engine.backend`).
    public init(dim: Int, heads: Int, contextDim: Int? = nil, bias: Bool = true,
                backend: ComputeBackend = Engine.backend, rng: inout SeededRNG) {
        precondition(dim % heads == 0, "MultiHeadAttention: width \(dim) not divisible by \(heads) heads")
        self.dim = dim; self.heads = heads; self.contextDim = contextDim ?? dim
        q = Linear(dim, dim, bias: bias, backend: backend, rng: &rng)
        k = Linear(self.contextDim, dim, bias: bias, backend: backend, rng: &rng)
        v = Linear(self.contextDim, dim, bias: bias, backend: backend, rng: &rng)
        o = Linear(dim, dim, bias: bias, backend: backend, rng: &rng)
        core = ScaledDotProductAttention(heads: heads, backend: backend)
    }

    public var namedParameters: [(name: String, param: Parameter)] {
        nest("q", q) + nest("k", k) + nest("v", v) + nest("o", o)
    }

    /// x: `[B, T, D]`; context: `[B, S, contextDim]` (nil: self-attention, S = T);
    /// keyMask: `[B * S]`, true = attend. Returns `[B, T, D]`.
    public func forward(_ x: Tensor, context: Tensor? = nil, keyMask: [Bool]? = nil) -> Tensor {
        isCross = context != nil
        let src = context ?? x
        require(x.rank == 3 && src.rank == 3 && src.shape[0] == x.shape[0],
                "MultiHeadAttention.forward: x \(x.shape) and context \(src.shape) must be [B, T, D] and [B, S, C]")
        let a = core.forward(q: q.forward(x), k: k.forward(src), v: v.forward(src), keyMask: keyMask)
        return o.forward(a)
    }

    /// dy: `[B, T, D]` -> (dx `[B, T, D]`, dcontext `[B, S, contextDim]` or nil for self-attention).
    public func backward(_ dy: Tensor) -> (dx: Tensor, dcontext: Tensor?) {
        let g = core.backward(o.backward(dy))
        var dx = q.backward(g.dq)
        var dsrc = k.backward(g.dk)
        dsrc.add(v.backward(g.dv))
        if isCross { return (dx, dsrc) }
        dx.add(dsrc)
        return (dx, nil)
    }
}
