import XCTest
import MuseCore
@testable import MuseEngine

/// The fp32 reference backend that every engine reference test pins explicitly
/// (naive loops, finite differences and saved outputs are fp32 references),
/// whatever `MUSE_BACKEND` and the CPU make the process default.
let fp32Reference: ComputeBackend = OpenBLASBackend()

/// Random tensor for tests.
func randn(_ shape: [Int], _ rng: inout SeededRNG, std: Float = 1) -> Tensor { Tensor.randn(shape, std: std, rng: &rng) }

/// `sum(y * r)` in Double: the scalar whose gradient w.r.t. y is r.
func dot(_ y: Tensor, _ r: Tensor) -> Double {
    XCTAssertEqual(y.shape, r.shape)
    var s = 0.0
    for i in 0..<y.count { s += Double(y.data[i]) * Double(r.data[i]) }
    return s
}

/// Compares `analytic` (the gradient of `loss` w.r.t. `box.value`) with central
/// finite differences at `samples` random coordinates (all when the tensor is small).
func checkGradient(_ label: String, _ box: Parameter, analytic: Tensor, h: Float = 1e-2,
                   rtol: Double = 2e-2, atol: Double = 2e-3, samples: Int = 24,
                   file: StaticString = #filePath, line: UInt = #line, loss: () -> Double) {
    XCTAssertEqual(analytic.shape, box.value.shape, "\(label): gradient shape", file: file, line: line)
    var rng = SeededRNG(seed: 99)
    let n = box.value.count
    let idx = n <= samples ? Array(0..<n) : (0..<samples).map { _ in rng.int(n) }
    var worst = 0.0
    for i in idx {
        let old = box.value.data[i]
        box.value.data[i] = old + h
        let lp = loss()
        box.value.data[i] = old - h
        let lm = loss()
        box.value.data[i] = old
        let num = (lp - lm) / Double(2 * h)
        let ana = Double(analytic.data[i])
        let err = abs(num - ana)
        let tol = atol + rtol * max(abs(num), abs(ana))
        worst = max(worst, err / tol)
        if err > tol {
            XCTFail("\(label): d/dx[\(i)] analytic \(ana) vs numeric \(num)", file: file, line: line)
            return
        }
    }
}

/// Asserts two tensors agree elementwise within `tol` (relative to the largest magnitude).
func assertClose(_ a: Tensor, _ b: Tensor, tol: Float = 1e-4, _ label: String = "",
                 file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(a.shape, b.shape, "\(label): shapes", file: file, line: line)
    guard a.shape == b.shape else { return }
    let scale = max(1, b.data.map(abs).max() ?? 1)
    let d = a.maxAbsDifference(b)
    XCTAssertLessThanOrEqual(d, tol * scale, "\(label): max difference \(d)", file: file, line: line)
}

/// Naive `C[m,n] = A[m,k] * B[k,n]` (row-major) in Double.
func naiveMatmul(_ a: [Float], _ b: [Float], m: Int, n: Int, k: Int) -> [Float] {
    var c = [Float](repeating: 0, count: m * n)
    for i in 0..<m { for j in 0..<n {
        var s = 0.0
        for p in 0..<k { s += Double(a[i * k + p]) * Double(b[p * n + j]) }
        c[i * n + j] = Float(s)
    } }
    return c
}

/// Row-major transpose of an `[r, c]` matrix.
func transpose(_ a: [Float], _ r: Int, _ c: Int) -> [Float] {
    var t = [Float](repeating: 0, count: r * c)
    for i in 0..<r { for j in 0..<c { t[j * r + i] = a[i * c + j] } }
    return t
}
