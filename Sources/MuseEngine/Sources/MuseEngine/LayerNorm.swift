import Foundation
import CMuseKernels

/// Layer normalization over the last dimension:
/// `y = (x - mean) / sqrt(var + eps) * weight + bias`. Parameters: `weight [D]`, `bias [D]`
/// (optional: `affine: false` has none).
public final class LayerNorm: Module {
    public let dim: Int
    public let eps: Float
    public let weight: Parameter?
    public let bias: Parameter?
    private var input = Tensor(zeros: [0])
    private var mean: [Float] = []
    private var rstd: [Float] = []

    /// - Parameters: dim: normalized width D; eps: variance epsilon (BERT: 1e-12); affine: learnable weight/bias.
    public init(_ dim: Int, eps: Float = 1e-5, affine: Bool = true) {
        self.dim = dim
        self.eps = eps
        weight = affine ? Parameter(Tensor(zeros: [dim], value: 1), decays: false) : nil
        bias = affine ? Parameter(Tensor(zeros: [dim]), decays: false) : nil
    }

    public var namedParameters: [(name: String, param: Parameter)] {
        guard let weight, let bias else { return [] }
        return [("weight", weight), ("bias", bias)]
    }

    /// x: `[..., D]` -> y: `[..., D]`. Caches x, mean and 1/std per row.
    public func forward(_ x: Tensor) -> Tensor {
        require(x.lastDim == dim, "LayerNorm.forward: input shape \(x.shape), expected last dimension \(dim)")
        input = x
        let n = x.rows, D = dim
        mean = [Float](repeating: 0, count: n)
        rstd = [Float](repeating: 0, count: n)
        var y = Tensor(zeros: x.shape)
        let ones = [Float](repeating: 1, count: D), zeros = [Float](repeating: 0, count: D)
        let g = weight?.value.data ?? ones, b = bias?.value.data ?? zeros
        x.data.withUnsafeBufferPointer { xp in
            y.data.withUnsafeMutableBufferPointer { yp in
                mean.withUnsafeMutableBufferPointer { mp in
                    rstd.withUnsafeMutableBufferPointer { rp in
                        g.withUnsafeBufferPointer { gp in
                            b.withUnsafeBufferPointer { bp in
                                let X = xp.baseAddress!, Y = yp.baseAddress!, M = mp.baseAddress!, R = rp.baseAddress!
                                let G = gp.baseAddress!, B = bp.baseAddress!
                                Parallel.forChunks(n, minPerChunk: max(1, Parallel.elementwiseGrain / D)) { _, rows in
                                    for r in rows {
                                        // Mean, 1/std and the affine output in one vectorized C kernel.
                                        muse_layernorm_forward_row(X + r * D, Y + r * D, G, B, D, eps, M + r, R + r)
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return y
    }

    /// dy: `[..., D]` -> dx: `[..., D]`; accumulates dweight += sum(dy * xhat), dbias += sum(dy).
    /// dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)), dxhat = dy * weight.
    public func backward(_ dy: Tensor) -> Tensor {
        require(dy.shape == input.shape, "LayerNorm.backward: gradient shape \(dy.shape), expected \(input.shape)")
        let n = input.rows, D = dim
        var dx = Tensor(zeros: input.shape)
        let g = weight?.value.data ?? [Float](repeating: 1, count: D)
        let chunks = Parallel.chunkCount(n, minPerChunk: max(1, Parallel.elementwiseGrain / D))
        var partial = [Float](repeating: 0, count: chunks * 2 * D)
        input.data.withUnsafeBufferPointer { xp in
            dy.data.withUnsafeBufferPointer { dyp in
                dx.data.withUnsafeMutableBufferPointer { dxp in
                    partial.withUnsafeMutableBufferPointer { pp in
                        g.withUnsafeBufferPointer { gp in
                            let X = xp.baseAddress!, DY = dyp.baseAddress!, DX = dxp.baseAddress!, G = gp.baseAddress!
                            let PP = pp.baseAddress!
                            let M = mean, R = rstd
                            Parallel.forChunks(n, minPerChunk: max(1, Parallel.elementwiseGrain / D)) { c, rows in
                                let dgamma = PP + c * 2 * D, dbeta = dgamma + D
                                for r in rows {
                                    muse_layernorm_backward_row(X + r * D, DY + r * D, G, D, M[r], R[r], dgamma, dbeta, DX + r * D)
                                }
                            }
                        }
                    }
                }
            }
        }
        if let weight, let bias {
            for c in 0..<chunks {
                for j in 0..<D {
                    weight.grad.data[j] += partial[c * 2 * D + j]
                    bias.grad.data[j] += partial[c * 2 * D + D + j]
                }
            }
        }
        return dx
    }
}
