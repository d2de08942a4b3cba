/// Geometry of a 2D convolution over NCHW images with an `[outC, inC, kernel, kernel]`
/// weight (PyTorch layout), square kernel, equal stride and zero padding on both axes.
public struct Conv2dGeometry: Hashable, Sendable {
    public var batch: Int, inChannels: Int, height: Int, width: Int
    public var outChannels: Int, kernel: Int, stride: Int, padding: Int

    public init(batch: Int, inChannels: Int, height: Int, width: Int,
                outChannels: Int, kernel: Int, stride: Int, padding: Int) {
        self.batch = batch; self.inChannels = inChannels; self.height = height; self.width = width
        self.outChannels = outChannels; self.kernel = kernel; self.stride = stride; self.padding = padding
    }

    public var outHeight: Int { (height + 2 * padding - kernel) / stride + 1 }
    public var outWidth: Int { (width + 2 * padding - kernel) / stride + 1 }
    /// Rows of the lowered (im2col) matrix: inChannels * kernel * kernel.
    public var patchSize: Int { inChannels * kernel * kernel }
    /// Multiply-adds x 2 of the forward pass.
    public var forwardFlops: Double {
        2 * Double(batch) * Double(outChannels) * Double(outHeight * outWidth) * Double(patchSize)
    }
}

/// The one seam behind which every GEMM and convolution runs. The fp32
/// reference is `OpenBLASBackend`; a bf16 backend (oneDNN on AMX) implements
/// the same protocol and reports `dtype == .bfloat16` (it may convert Float32
/// operands at the seam). All matrices are row-major.
public protocol ComputeBackend: AnyObject {
    /// Arithmetic type of this backend's GEMMs and convolutions.
    var dtype: DType { get }
    /// Human-readable name (benchmarks print it).
    var name: String { get }

    /// `C[m, n] = alpha * op(A)[m, k] * op(B)[k, n] + beta * C`, where `op(A) = A^T`
    /// when `transA` (then A is stored `[k, m]` with leading dimension `lda`).
    func gemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
              a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
              beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int)

    /// `count` independent GEMMs of the same shape; problem `i` uses operands at
    /// element offsets `offsets(i)` from `a`, `b`, `c`. Problems run in parallel;
    /// their outputs must not overlap.
    func gemmBatched(count: Int, transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                     a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                     beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int,
                     offsets: (Int) -> (a: Int, b: Int, c: Int))

    /// Convolution forward. x: `[B, inC, H, W]`, w: `[outC, inC, k, k]`, bias: `[outC]` or nil,
    /// y: `[B, outC, outH, outW]` (overwritten).
    func conv2dForward(_ g: Conv2dGeometry, x: UnsafePointer<Float>, w: UnsafePointer<Float>,
                       bias: UnsafePointer<Float>?, y: UnsafeMutablePointer<Float>)

    /// Convolution backward. dy: `[B, outC, outH, outW]`. Writes dx `[B, inC, H, W]` (overwritten,
    /// skipped when nil) and ACCUMULATES dw `[outC, inC, k, k]` and dbias `[outC]` (when non-nil).
    func conv2dBackward(_ g: Conv2dGeometry, x: UnsafePointer<Float>, w: UnsafePointer<Float>,
                        dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>?,
                        dw: UnsafeMutablePointer<Float>, dbias: UnsafeMutablePointer<Float>?)
}

extension ComputeBackend {
    /// GEMM on whole arrays with tight leading dimensions (convenience).
    public func matmul(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
                       alpha: Float = 1, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
                       beta: Float = 0, c: UnsafeMutablePointer<Float>) {
        gemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha,
             a: a, lda: transA ? m : k, b: b, ldb: transB ? k : n, beta: beta, c: c, ldc: n)
    }
}
