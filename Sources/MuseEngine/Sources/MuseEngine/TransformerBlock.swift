import MuseCore

/// Feed-forward block `fc2(GELU(fc1(x)))` with hidden width `hidden` (4 x D usually).
/// Parameters: `fc1`, `fc2`.
public final class MLP: Module {
    public let fc1: Linear, fc2: Linear
    public let act: GELU

    /// - Parameters: backend: runs both layers' GEMMs (default: `Engine.backend`).
    public init(dim: Int, hidden: Int, gelu: GELU.Form = .tanh, backend: ComputeBackend = Engine.backend, rng: inout SeededRNG) {
        fc1 = Linear(dim, hidden, backend: backend, rng: &rng)
        fc2 = Linear(hidden, dim, backend: backend, rng: &rng)
        act = GELU(gelu)
    }

    public var namedParameters: [(name: String, param: Parameter)] { nest("fc1", fc1) + nest("fc2", fc2) }

    /// x: `[..., D]` -> `[..., D]`.
    public func forward(_ x: Tensor) -> Tensor { fc2.forward(act.forward(fc1.forward(x))) }
    /// dy: `[..., D]` -> dx `[..., D]`.
    public func backward(_ dy: Tensor) -> Tensor { fc1.backward(act.backward(fc2.backward(dy))) }
}

/// Pre-norm transformer block (the Muse base/super-res layer):
/// `x += SelfAttn(LN1(x))`; `x += CrossAttn(LN2(x), context)` (when `contextDim` is set);
/// `x += MLP(LN3(x))`. Parameters: `norm1`, `attn`, `norm2`, `cross`, `norm3`, `mlp`.
public final class TransformerBlock: Module {
    public let norm1: LayerNorm, attn: MultiHeadAttention
    public let norm2: LayerNorm?, cross: MultiHeadAttention?
    public let norm3: LayerNorm, mlp: MLP

    /// - Parameters: dim: width D; heads; mlpRatio: hidden = mlpRatio x D;
    ///   contextDim: width of the cross-attention context (nil: no cross-attention);
    ///   backend: runs every GEMM of the block (default: `Engine.backend`).
    public init(dim: Int, heads: Int, mlpRatio: Int = 4, contextDim: Int? = nil, gelu: GELU.Form = .tanh,
                backend: ComputeBackend = Engine.backend, rng: inout SeededRNG) {
        norm1 = LayerNorm(dim)
        attn = MultiHeadAttention(dim: dim, heads: heads, backend: backend, rng: &rng)
        if let contextDim {
            norm2 = LayerNorm(dim)
            cross = MultiHeadAttention(dim: dim, heads: heads, contextDim: contextDim, backend: backend, rng: &rng)
        } else { norm2 = nil; cross = nil }
        norm3 = LayerNorm(dim)
        mlp = MLP(dim: dim, hidden: mlpRatio * dim, gelu: gelu, backend: backend, rng: &rng)
    }

    public var namedParameters: [(name: String, param: Parameter)] {
        var p = nest("norm1", norm1) + nest("attn", attn)
        if let norm2, let cross { p += nest("norm2", norm2) + nest("cross", cross) }
        return p + nest("norm3", norm3) + nest("mlp", mlp)
    }

    /// x: `[B, T, D]`; mask: `[B * T]` self-attention key padding (true = attend);
    /// context: `[B, S, contextDim]` with contextMask `[B * S]`. Returns `[B, T, D]`.
    public func forward(_ x: Tensor, mask: [Bool]? = nil, context: Tensor? = nil, contextMask: [Bool]? = nil) -> Tensor {
        var h = x
        h.add(attn.forward(norm1.forward(h), keyMask: mask))
        if let norm2, let cross {
            require(context != nil, "TransformerBlock.forward: block has cross-attention but no context was given")
            h.add(cross.forward(norm2.forward(h), context: context, keyMask: contextMask))
        }
        h.add(mlp.forward(norm3.forward(h)))
        return h
    }

    /// dy: `[B, T, D]` -> (dx `[B, T, D]`, dcontext `[B, S, contextDim]` or nil).
    public func backward(_ dy: Tensor) -> (dx: Tensor, dcontext: Tensor?) {
        var g = dy
        g.add(norm3.backward(mlp.backward(dy)))
        var dcontext: Tensor?
        if let norm2, let cross {
            let c = cross.backward(g)
            g.add(norm2.backward(c.dx))
            dcontext = c.dcontext
        }
        g.add(norm1.backward(attn.backward(g).dx))
        return (g, dcontext)
    }
}
