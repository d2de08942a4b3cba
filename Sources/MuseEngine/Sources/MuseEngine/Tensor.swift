import Foundation
import MuseCore

/// Element type of a tensor or of a backend's arithmetic. Storage is Float32
/// today; `bfloat16` names what a bf16 backend computes in.
public enum DType: String, Sendable {
    case float32 = "F32"
    case bfloat16 = "BF16"
}

/// A contiguous, row-major, shaped tensor of Float32 values (value semantics:
/// copy-on-write storage). Layouts used by the layers: tokens `[B, T, D]`,
/// images `[B, C, H, W]` (NCHW), linear weights `[out, in]` (PyTorch order).
public struct Tensor: CustomStringConvertible {
    /// Dimensions, outermost first.
    public private(set) var shape: [Int]
    /// Values in row-major order; `data.count == shape.reduce(1, *)`.
    public var data: [Float]
    /// Element type of `data` (only `.float32` storage exists today).
    public let dtype: DType

    /// A tensor of `shape` holding `data` (count must match).
    public init(shape: [Int], data: [Float]) {
        require(shape.allSatisfy { $0 >= 0 }, "Tensor: negative dimension in shape \(shape)")
        require(data.count == shape.reduce(1, *), "Tensor: \(data.count) values do not fill shape \(shape)")
        self.shape = shape
        self.data = data
        self.dtype = .float32
    }

    /// A tensor of `shape` filled with `value` (zeros by default).
    public init(zeros shape: [Int], value: Float = 0) {
        self.init(shape: shape, data: [Float](repeating: value, count: shape.reduce(1, *)))
    }

    /// A tensor of `shape` whose values `write` sets, every one of them, before
    /// anything reads them: skips the clearing pass of `init(zeros:)` for outputs
    /// that a copy overwrites whole.
    public init(shape: [Int], writingEvery write: (UnsafeMutableBufferPointer<Float>) -> Void) {
        require(shape.allSatisfy { $0 >= 0 }, "Tensor: negative dimension in shape \(shape)")
        let n = shape.reduce(1, *)
        self.init(shape: shape, data: [Float](unsafeUninitializedCapacity: n) { buffer, count in
            write(buffer)
            count = n
        })
    }

    /// Normal(0, std²) values drawn from `rng`.
    public static func randn(_ shape: [Int], std: Float = 1, rng: inout SeededRNG) -> Tensor {
        let n = shape.reduce(1, *)
        var d = [Float](repeating: 0, count: n)
        for i in 0..<n { d[i] = rng.normal() * std }
        return Tensor(shape: shape, data: d)
    }

    /// Uniform values in `[low, high)` drawn from `rng`.
    public static func uniform(_ shape: [Int], low: Float, high: Float, rng: inout SeededRNG) -> Tensor {
        let n = shape.reduce(1, *)
        var d = [Float](repeating: 0, count: n)
        for i in 0..<n { d[i] = low + (high - low) * rng.uniform() }
        return Tensor(shape: shape, data: d)
    }

    /// Number of elements.
    public var count: Int { data.count }
    /// Number of dimensions.
    public var rank: Int { shape.count }
    /// Product of all dimensions but the last (rows of a `[..., D]` tensor).
    public var rows: Int { shape.isEmpty ? 1 : count / max(1, shape[shape.count - 1]) }
    /// The last dimension.
    public var lastDim: Int { shape.last ?? 1 }

    /// The same values under another shape with the same element count.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        require(newShape.reduce(1, *) == count, "Tensor.reshaped: cannot view shape \(shape) as \(newShape)")
        var t = self
        t.shape = newShape
        return t
    }

    /// Element at a multi-index (slow; for tests and debugging).
    public subscript(_ index: Int...) -> Float {
        get { data[flatIndex(index)] }
        set { data[flatIndex(index)] = newValue }
    }

    private func flatIndex(_ index: [Int]) -> Int {
        require(index.count == shape.count, "Tensor: index \(index) for shape \(shape)")
        var f = 0
        for (i, d) in zip(index, shape) {
            require(i >= 0 && i < d, "Tensor: index \(index) out of bounds for shape \(shape)")
            f = f * d + i
        }
        return f
    }

    public var description: String { "Tensor(\(shape), \(dtype.rawValue))" }

    /// Sets every element to zero (keeps the shape).
    public mutating func zero() {
        data.withUnsafeMutableBufferPointer { p in _ = memset(p.baseAddress!, 0, p.count * 4) }
    }

    /// Largest absolute elementwise difference (shapes must match).
    public func maxAbsDifference(_ other: Tensor) -> Float {
        require(shape == other.shape, "Tensor.maxAbsDifference: shapes \(shape) and \(other.shape)")
        var m: Float = 0
        for i in 0..<count { m = max(m, abs(data[i] - other.data[i])) }
        return m
    }
}

// MARK: - Elementwise helpers (parallel over both cores)

extension Tensor {
    /// Applies `body(src, dst, range)` over chunks of the flat data (parallel).
    @inline(__always)
    static func elementwise(_ n: Int, _ body: (Range<Int>) -> Void) {
        Parallel.forChunks(n, minPerChunk: Parallel.elementwiseGrain) { _, r in body(r) }
    }

    /// A new tensor of x's shape from an elementwise kernel `(x, y, count)` that
    /// writes every y[i] from x[i], run over chunks of the elements in parallel.
    /// (The output starts as zeros: filling an uninitialized array from inside
    /// `init(shape:writingEvery:)` with a parallel loop crashed in release builds
    /// of Swift 6.3.1 with a call through a null closure, the kind of nested
    /// non-escaping closure miscompile of swiftlang/swift#63447; the clearing
    /// pass only writes, where the copy it replaces read and wrote.)
    static func map(_ x: Tensor, _ kernel: (UnsafePointer<Float>, UnsafeMutablePointer<Float>, Int) -> Void) -> Tensor {
        var y = Tensor(zeros: x.shape)
        let n = x.count
        x.data.withUnsafeBufferPointer { xp in y.data.withUnsafeMutableBufferPointer { yp in
            let X = xp.baseAddress!, Y = yp.baseAddress!
            elementwise(n) { r in kernel(X + r.lowerBound, Y + r.lowerBound, r.count) }
        }}
        return y
    }

    /// `map` of two inputs of one shape: `kernel(a, b, y, count)`.
    static func map(_ a: Tensor, _ b: Tensor, _ kernel: (UnsafePointer<Float>, UnsafePointer<Float>, UnsafeMutablePointer<Float>, Int) -> Void) -> Tensor {
        require(a.shape == b.shape, "Tensor.map: shapes \(a.shape) and \(b.shape) differ")
        var y = Tensor(zeros: a.shape)
        let n = a.count
        a.data.withUnsafeBufferPointer { ap in b.data.withUnsafeBufferPointer { bp in y.data.withUnsafeMutableBufferPointer { yp in
            let A = ap.baseAddress!, B = bp.baseAddress!, Y = yp.baseAddress!
            elementwise(n) { r in kernel(A + r.lowerBound, B + r.lowerBound, Y + r.lowerBound, r.count) }
        }}}
        return y
    }

    /// `self += other` elementwise (shapes must match); the residual add.
    public mutating func add(_ other: Tensor) {
        require(shape == other.shape, "Tensor.add: shapes \(shape) and \(other.shape) differ")
        let n = count
        data.withUnsafeMutableBufferPointer { d in
            other.data.withUnsafeBufferPointer { o in
                let dp = d.baseAddress!, op = o.baseAddress!
                Tensor.elementwise(n) { r in for i in r { dp[i] += op[i] } }
            }
        }
    }

    /// `self *= s` elementwise.
    public mutating func scale(_ s: Float) {
        let n = count
        data.withUnsafeMutableBufferPointer { d in
            let dp = d.baseAddress!
            Tensor.elementwise(n) { r in for i in r { dp[i] *= s } }
        }
    }

    /// `a + b` elementwise (residual connection; its backward passes the
    /// gradient unchanged to both inputs).
    public static func + (a: Tensor, b: Tensor) -> Tensor {
        var c = a
        c.add(b)
        return c
    }

    /// Sum of all elements (Double accumulation).
    public func sum() -> Double {
        var s = 0.0
        for v in data { s += Double(v) }
        return s
    }
}
