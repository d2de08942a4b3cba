import MuseCore
import MuseEngine
import XCTest

// Shared by the engine's and the models' test targets (one copy, so every
// backward pass is checked the same way).

/// Random tensor for tests.
public func randn(_ shape: [Int], _ rng: inout SeededRNG, std: Float = 1) -> Tensor { Tensor.randn(shape, std: std, rng: &rng) }

/// `sum(y * r)` in Double: the scalar whose gradient w.r.t. y is r.
public func dot(_ y: Tensor, _ r: Tensor) -> Double {
    XCTAssertEqual(y.shape, r.shape)
    var s = 0.0
    for i in 0..<y.count { s += Double(y.data[i]) * Double(r.data[i]) }
    return s
}

/// Compares `analytic` (the gradient of `loss` w.r.t. `box.value`) with central
/// finite differences at `samples` random coordinates (all when the tensor is small).
public func checkGradient(_ label: String, _ box: Parameter, analytic: Tensor, h: Float = 1e-2,
                          rtol: Double = 2e-2, atol: Double = 2e-3, samples: Int = 24,
                          file: StaticString = #filePath, line: UInt = #line, loss: () -> Double) {
    XCTAssertEqual(analytic.shape, box.value.shape, "\(label): gradient shape", file: file, line: line)
    var rng = SeededRNG(seed: 99)
    let n = box.value.count
    let idx = n <= samples ? Array(0..<n) : (0..<samples).map { _ in rng.int(n) }
    for i in idx {
        let old = box.value.data[i]
        box.value.data[i] = old + h
        let lp = loss()
        box.value.data[i] = old - h
        let lm = loss()
        box.value.data[i] = old
        let num = (lp - lm) / Double(2 * h)
        let ana = Double(analytic.data[i])
        if abs(num - ana) > atol + rtol * max(abs(num), abs(ana)) {
            XCTFail("\(label): d/dx[\(i)] analytic \(ana) vs numeric \(num)", file: file, line: line)
            return
        }
    }
}
