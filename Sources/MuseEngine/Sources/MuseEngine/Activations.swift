import Foundation
import CMuseKernels

/// GELU: `x * Phi(x)`. `.erf` is the exact form (BERT); `.tanh` the approximation
/// `0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))`.
public final class GELU {
    public enum Form: Sendable { case erf, tanh }
    public let form: Form
    private var input = Tensor(zeros: [0])

    public init(_ form: Form = .erf) { self.form = form }

    /// x: any shape -> same shape. Caches x.
    public func forward(_ x: Tensor) -> Tensor {
        input = x
        // Both forms run a C kernel into a new, cleared tensor (x is not copied first).
        switch form {
        case .erf:
            return Tensor.map(x) { X, Y, count in muse_gelu_erf_forward(X, Y, count) }
        case .tanh:
            return Tensor.map(x) { X, Y, count in muse_gelu_tanh_forward(X, Y, count) }
        }
    }

    /// dy -> dx = dy * gelu'(x).
    public func backward(_ dy: Tensor) -> Tensor {
        require(dy.shape == input.shape, "GELU.backward: gradient shape \(dy.shape), expected \(input.shape)")
        switch form {
        case .erf:
            return Tensor.map(input, dy) { X, G, D, count in muse_gelu_erf_backward(X, G, D, count) }
        case .tanh:
            return Tensor.map(input, dy) { X, G, D, count in muse_gelu_tanh_backward(X, G, D, count) }
        }
    }
}

/// SiLU (swish): `y = x * sigmoid(x)`.
public final class SiLU {
    private var input = Tensor(zeros: [0])
    public init() {}

    /// x: any shape -> same shape. Caches x.
    public func forward(_ x: Tensor) -> Tensor {
        input = x
        return Tensor.map(x) { X, Y, count in muse_silu_forward(X, Y, count) }
    }

    /// dx = dy * s (1 + x (1 - s)), s = sigmoid(x).
    public func backward(_ dy: Tensor) -> Tensor {
        require(dy.shape == input.shape, "SiLU.backward: gradient shape \(dy.shape), expected \(input.shape)")
        return Tensor.map(input, dy) { X, G, D, count in muse_silu_backward(X, G, D, count) }
    }
}

/// Softmax over the last dimension.
public final class Softmax {
    private var output = Tensor(zeros: [0])
    public init() {}

    /// x: `[..., N]` -> probabilities `[..., N]`. Caches the output.
    public func forward(_ x: Tensor) -> Tensor {
        var y = x
        let rows = x.rows, n = x.lastDim
        y.data.withUnsafeMutableBufferPointer { yp in
            let Y = yp.baseAddress!
            Parallel.forChunks(rows, minPerChunk: max(1, Parallel.elementwiseGrain / max(1, n))) { _, rr in
                for r in rr { softmaxRow(Y + r * n, n) }
            }
        }
        output = y
        return y
    }

    /// dx = y * (dy - sum(dy * y)) per row.
    public func backward(_ dy: Tensor) -> Tensor {
        require(dy.shape == output.shape, "Softmax.backward: gradient shape \(dy.shape), expected \(output.shape)")
        var dx = dy
        let rows = dy.rows, n = dy.lastDim
        output.data.withUnsafeBufferPointer { yp in
            dx.data.withUnsafeMutableBufferPointer { dp in
                let Y = yp.baseAddress!, D = dp.baseAddress!
                Parallel.forChunks(rows, minPerChunk: max(1, Parallel.elementwiseGrain / max(1, n))) { _, rr in
                    for r in rr { softmaxBackwardRow(Y + r * n, D + r * n, n) }
                }
            }
        }
        return dx
    }
}

/// In-place numerically stable softmax of `n` values (vectorized exp). A row that
/// is entirely -inf (fully masked) becomes zeros.
@inline(__always) func softmaxRow(_ p: UnsafeMutablePointer<Float>, _ n: Int) {
    let m = vmax(p, n)
    if m == -Float.infinity { for j in 0..<n { p[j] = 0 }; return }
    vscale(p, n, 1 / expShiftInPlace(p, n, shift: m))
}

/// In-place `d = y * (d - sum(d * y))` (softmax backward of one row).
@inline(__always) func softmaxBackwardRow(_ y: UnsafePointer<Float>, _ d: UnsafeMutablePointer<Float>, _ n: Int) {
    var dot: Float = 0
    for j in 0..<n { dot += d[j] * y[j] }
    for j in 0..<n { d[j] = y[j] * (d[j] - dot) }
}
