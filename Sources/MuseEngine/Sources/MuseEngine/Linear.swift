import MuseCore

/// Fully connected layer `y = x W^T + b` over the last dimension.
/// Parameters: `weight [out, in]` (PyTorch order), `bias [out]`.
public final class Linear: Module {
    public let inFeatures: Int
    public let outFeatures: Int
    public let weight: Parameter
    public let bias: Parameter?
    /// The backend of this layer's GEMMs (fixed at init).
    public let backend: ComputeBackend
    private var input = Tensor(zeros: [0])

    /// - Parameters:
    ///   - inFeatures: input width (last dimension of x).
    ///   - outFeatures: output width.
    ///   - bias: whether the layer has a bias.
    ///   - std: weights ~ N(0, std²); default: uniform ±1/sqrt(inFeatures) (PyTorch's default).
    ///   - backend: runs the GEMMs (default: the process default, `Engine.backend`).
    public init(_ inFeatures: Int, _ outFeatures: Int, bias: Bool = true, std: Float? = nil,
                backend: ComputeBackend = Engine.backend, rng: inout SeededRNG) {
        self.backend = backend
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        let bound = 1 / Float(max(1, inFeatures)).squareRoot()
        let w: Tensor = std.map { Tensor.randn([outFeatures, inFeatures], std: $0, rng: &rng) }
            ?? Tensor.uniform([outFeatures, inFeatures], low: -bound, high: bound, rng: &rng)
        weight = Parameter(w)
        self.bias = bias ? Parameter(Tensor(zeros: [outFeatures]), decays: false) : nil
    }

    public var namedParameters: [(name: String, param: Parameter)] {
        var p: [(name: String, param: Parameter)] = [("weight", weight)]
        if let bias { p.append(("bias", bias)) }
        return p
    }

    /// x: `[..., in]` -> y: `[..., out]`. Caches x for backward.
    public func forward(_ x: Tensor) -> Tensor {
        require(x.lastDim == inFeatures, "Linear.forward: input shape \(x.shape) has last dimension \(x.lastDim), expected \(inFeatures)")
        input = x
        let n = x.rows
        var outShape = x.shape
        outShape[outShape.count - 1] = outFeatures
        // y starts as the bias in every row (or zeros) and the GEMM adds x W^T to it
        // (beta 1). For OpenBLAS, beta 1 also skips the pass that clears C for beta 0.
        var y: Tensor
        if let bias {
            y = bias.value.data.withUnsafeBufferPointer { b in
                Tensor(shape: outShape) { Y in
                    for r in 0..<n { (Y.baseAddress! + r * outFeatures).update(from: b.baseAddress!, count: outFeatures) }
                }
            }
        } else {
            y = Tensor(zeros: outShape)
        }
        y.data.withUnsafeMutableBufferPointer { yp in
            x.data.withUnsafeBufferPointer { xp in
                weight.value.data.withUnsafeBufferPointer { wp in
                    // Y[n, out] += X[n, in] * W[out, in]^T
                    backend.gemm(transA: false, transB: true, m: n, n: outFeatures, k: inFeatures, alpha: 1,
                                 a: xp.baseAddress!, lda: inFeatures, b: wp.baseAddress!, ldb: inFeatures,
                                 beta: 1, c: yp.baseAddress!, ldc: outFeatures)
                }
            }
        }
        return y
    }

    /// dy: `[..., out]` -> dx: `[..., in]`; accumulates dW += dy^T x, db += sum(dy).
    public func backward(_ dy: Tensor) -> Tensor {
        require(dy.lastDim == outFeatures && dy.rows == input.rows,
                "Linear.backward: gradient shape \(dy.shape) does not match output of input \(input.shape) -> \(outFeatures)")
        let n = dy.rows
        var dx = Tensor(zeros: input.shape)
        dy.data.withUnsafeBufferPointer { dyp in
            let DY = dyp.baseAddress!
            input.data.withUnsafeBufferPointer { xp in
                weight.grad.data.withUnsafeMutableBufferPointer { dwp in
                    // dW[out, in] += dY[n, out]^T * X[n, in]
                    backend.gemm(transA: true, transB: false, m: outFeatures, n: inFeatures, k: n, alpha: 1,
                                 a: DY, lda: outFeatures, b: xp.baseAddress!, ldb: inFeatures,
                                 beta: 1, c: dwp.baseAddress!, ldc: inFeatures)
                }
            }
            weight.value.data.withUnsafeBufferPointer { wp in
                dx.data.withUnsafeMutableBufferPointer { dxp in
                    // dX[n, in] = dY[n, out] * W[out, in], added to dx's zeros (beta 1: the
                    // same values; OpenBLAS then skips its pass that clears C for beta 0).
                    backend.gemm(transA: false, transB: false, m: n, n: inFeatures, k: outFeatures, alpha: 1,
                                 a: DY, lda: outFeatures, b: wp.baseAddress!, ldb: inFeatures,
                                 beta: 1, c: dxp.baseAddress!, ldc: inFeatures)
                }
            }
            if let bias {
                bias.grad.data.withUnsafeMutableBufferPointer { db in
                    for r in 0..<n { let row = DY + r * outFeatures; for j in 0..<outFeatures { db[j] += row[j] } }
                }
            }
        }
        return dx
    }
}
