import XCTest
import MuseCore
@testable import MuseEngine
@_exported import MuseTestSupport

/// The fp32 reference backend that every engine reference test pins explicitly
/// (naive loops, finite differences and saved outputs are fp32 references),
/// whatever `MUSE_BACKEND` and the CPU make the process default.
let fp32Reference: ComputeBackend = OpenBLASBackend()

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
