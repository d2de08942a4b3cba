import MuseCore

/// 2D convolution over NCHW images through its backend (square kernel,
/// stride, zero padding). Parameters: `weight [outC, inC, k, k]` (PyTorch layout), `bias [outC]`.
public final class Conv2d: Module {
    public let inChannels: Int, outChannels: Int, kernel: Int, stride: Int, padding: Int
    public let weight: Parameter
    public let bias: Parameter?
    /// The backend of this layer's convolutions (fixed at init).
    public let backend: ComputeBackend
    private var input = Tensor(zeros: [0])

    /// - Parameters: kernel: 1 or 3 typically; stride: 1 or 2; padding: default `kernel / 2`;
    ///   weights ~ uniform ±1/sqrt(inC k k) (PyTorch's default); backend: runs the
    ///   convolutions (default: the process default, `Engine.backend`).
    public init(_ inChannels: Int, _ outChannels: Int, kernel: Int, stride: Int = 1, padding: Int? = nil,
                bias: Bool = true, backend: ComputeBackend = Engine.backend, rng: inout SeededRNG) {
        self.backend = backend
        self.inChannels = inChannels; self.outChannels = outChannels
        self.kernel = kernel; self.stride = stride; self.padding = padding ?? kernel / 2
        let bound = 1 / Float(inChannels * kernel * kernel).squareRoot()
        weight = Parameter(Tensor.uniform([outChannels, inChannels, kernel, kernel], low: -bound, high: bound, rng: &rng))
        self.bias = bias ? Parameter(Tensor(zeros: [outChannels]), decays: false) : nil
    }

    public var namedParameters: [(name: String, param: Parameter)] {
        var p: [(name: String, param: Parameter)] = [("weight", weight)]
        if let bias { p.append(("bias", bias)) }
        return p
    }

    /// Geometry for an input of shape `[B, inC, H, W]`.
    public func geometry(_ shape: [Int]) -> Conv2dGeometry {
        require(shape.count == 4 && shape[1] == inChannels,
                "Conv2d.forward: input shape \(shape), expected [B, \(inChannels), H, W]")
        let g = Conv2dGeometry(batch: shape[0], inChannels: inChannels, height: shape[2], width: shape[3],
                               outChannels: outChannels, kernel: kernel, stride: stride, padding: padding)
        require(g.outHeight > 0 && g.outWidth > 0, "Conv2d.forward: input \(shape) too small for kernel \(kernel)")
        return g
    }

    /// x: `[B, inC, H, W]` -> `[B, outC, outH, outW]`. Caches x.
    public func forward(_ x: Tensor) -> Tensor {
        let g = geometry(x.shape)
        input = x
        var y = Tensor(zeros: [g.batch, outChannels, g.outHeight, g.outWidth])
        x.data.withUnsafeBufferPointer { xp in weight.value.data.withUnsafeBufferPointer { wp in
            y.data.withUnsafeMutableBufferPointer { yp in
                if let bias {
                    bias.value.data.withUnsafeBufferPointer { bp in
                        backend.conv2dForward(g, x: xp.baseAddress!, w: wp.baseAddress!, bias: bp.baseAddress!, y: yp.baseAddress!)
                    }
                } else {
                    backend.conv2dForward(g, x: xp.baseAddress!, w: wp.baseAddress!, bias: nil, y: yp.baseAddress!)
                }
            }
        }}
        return y
    }

    /// dy: `[B, outC, outH, outW]` -> dx `[B, inC, H, W]`; accumulates dweight, dbias.
    public func backward(_ dy: Tensor) -> Tensor {
        let g = geometry(input.shape)
        require(dy.shape == [g.batch, outChannels, g.outHeight, g.outWidth],
                "Conv2d.backward: gradient shape \(dy.shape), expected \([g.batch, outChannels, g.outHeight, g.outWidth])")
        var dx = Tensor(zeros: input.shape)
        var dbias = bias?.grad.data ?? []
        input.data.withUnsafeBufferPointer { xp in weight.value.data.withUnsafeBufferPointer { wp in
        dy.data.withUnsafeBufferPointer { dyp in dx.data.withUnsafeMutableBufferPointer { dxp in
        weight.grad.data.withUnsafeMutableBufferPointer { dwp in dbias.withUnsafeMutableBufferPointer { dbp in
            backend.conv2dBackward(g, x: xp.baseAddress!, w: wp.baseAddress!, dy: dyp.baseAddress!, dx: dxp.baseAddress!,
                                   dw: dwp.baseAddress!, dbias: bias == nil ? nil : dbp.baseAddress!)
        }}}}}}
        if let bias { bias.grad.data = dbias }
        return dx
    }
}
