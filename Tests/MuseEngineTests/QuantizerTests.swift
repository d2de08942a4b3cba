import XCTest
import Foundation
import MuseCore
@testable import MuseEngine

final class FiniteScalarQuantizerTests: XCTestCase {
    /// Values written out by hand from the FSQ formulas for levels [8, 5]:
    /// L = 8: h = 3.5035, offset 0.5, shift = atanh(0.5 / 3.5035) = 0.14370, half width 4.
    /// L = 5: h = 2.002, offset 0, shift 0, half width 2.
    func testForwardValuesAndIds() {
        let fsq = FiniteScalarQuantizer(levels: [8, 5])
        XCTAssertEqual(fsq.codes, 40)
        // z for pixel 0: (0, 0); pixel 1: (10, -10); pixel 2: (-10, 0.3); pixel 3: (0.5, 1.0)
        let z = Tensor(shape: [1, 2, 1, 4], data: [0, 10, -10, 0.5, 0, -10, 0.3, 1.0])
        let (q, ids) = fsq.forward(z)
        // Channel 0: b(0) = tanh(0.1437) * 3.5035 - 0.5 = 0.0 -> 0; b(10) = 3.0035 -> 3; b(-10) = -4.0035 -> -4;
        // b(0.5) = tanh(0.6437) * 3.5035 - 0.5 = 1.4865 -> 1. Divided by 4.
        // Channel 1: b(0) = 0; b(-10) = -2.002 -> -2; b(0.3) = tanh(0.3) * 2.002 = 0.5834 -> 1; b(1) = 1.5247 -> 2. Divided by 2.
        let expected: [Float] = [0, 0.75, -1, 0.25, 0, -1, 0.5, 1]
        XCTAssertEqual(q.data, expected)
        // ids = digit0 + 8 * digit1, digit = round(b) + half width.
        let expectedIds: [Int32] = [20, 7, 24, 37]   // 4 + 8*2, 7 + 8*0, 0 + 8*3, 5 + 8*4
        XCTAssertEqual(ids, expectedIds)
        // Ids back to values.
        XCTAssertEqual(fsq.values(ids: ids, batch: 1, height: 1, width: 4).data, expected)
    }

    func testEveryIdRoundTrips() {
        let fsq = FiniteScalarQuantizer(levels: [8, 5, 5, 5])
        let ids = (0..<Int32(fsq.codes)).map { $0 }
        let q = fsq.values(ids: ids, batch: 1, height: 1, width: ids.count)
        XCTAssertTrue(q.data.allSatisfy { $0 >= -1 && $0 <= 1 })
        // Map the values back through the quantizer: atanh of the value recovers a z that rounds to it.
        var z = q
        for d in 0..<4 {
            let L = fsq.levels[d], h = Float(L - 1) * 1.001 / 2, off: Float = L % 2 == 0 ? 0.5 : 0
            let shift = atanh(off / h), hw = Float(L / 2)
            for p in 0..<ids.count {
                let v = q.data[d * ids.count + p] * hw
                z.data[d * ids.count + p] = atanh((v + off) / h) - shift
            }
        }
        XCTAssertEqual(fsq.forward(z).indices, ids)
    }

    /// The straight-through gradient is the derivative of the unrounded bound, b'(z) / half width.
    func testBackwardIsDerivativeOfBound() {
        let fsq = FiniteScalarQuantizer(levels: [8, 5, 3])
        var rng = SeededRNG(seed: 3)
        let z = Parameter(randn([2, 3, 2, 2], &rng, std: 1.5))
        _ = fsq.forward(z.value)
        let r = randn([2, 3, 2, 2], &rng)
        let dz = fsq.backward(r)
        func bound(_ t: Tensor) -> Tensor {
            var out = t
            let HW = 4
            for i in 0..<t.count {
                let d = (i / HW) % 3, L = fsq.levels[d]
                let h = Float(L - 1) * 1.001 / 2, off: Float = L % 2 == 0 ? 0.5 : 0
                out.data[i] = (Foundation.tanh(t.data[i] + atanh(off / h)) * h - off) / Float(L / 2)
            }
            return out
        }
        checkGradient("fsq dz", z, analytic: dz, h: 1e-3) { dot(bound(z.value), r) }
    }
}

final class CosineCodebookQuantizerTests: XCTestCase {
    func testLookupPicksHighestCosine() {
        var rng = SeededRNG(seed: 1)
        let vq = CosineCodebookQuantizer(codes: 3, dim: 2, backend: OpenBLASBackend(), rng: &rng)
        vq.codebook.value = Tensor(shape: [3, 2], data: [1, 0, 0, 5, -2, -2])
        // Pixels (channels first): (3, 0.1) -> 0, (0.1, 0.2) -> 1, (-1, -0.9) -> 2, (10, 9) -> cos with (1,0)=0.74, (0,1)=0.67 -> 0
        let z = Tensor(shape: [1, 2, 1, 4], data: [3, 0.1, -1, 10, 0.1, 0.2, -0.9, 9])
        let o = vq.forward(z)
        XCTAssertEqual(o.indices, [0, 1, 2, 0])
        let s = Float(0.5).squareRoot()
        XCTAssertEqual(o.quantized.data, [1, 0, -s, 1, 0, 1, -s, 0])
        XCTAssertEqual(vq.values(ids: o.indices, batch: 1, height: 1, width: 4).data, o.quantized.data)
    }

    /// dz = straight-through through the normalisation plus beta * d mse / dz (codebook held fixed);
    /// the codebook gradient is d mse / d codebook (inputs held fixed). Checked by finite
    /// differences of those smooth functions (assignments do not change for small steps).
    func testGradients() {
        var rng = SeededRNG(seed: 2)
        let vq = CosineCodebookQuantizer(codes: 5, dim: 3, beta: 0.25, backend: OpenBLASBackend(), rng: &rng)
        let z = Parameter(randn([2, 3, 2, 2], &rng))
        let o = vq.forward(z.value)
        let r = randn(o.quantized.shape, &rng)
        vq.codebook.grad.zero()
        let dz = vq.backward(r)
        let ids = o.indices
        func normalised(_ t: Tensor) -> Tensor {
            var out = t
            let B = t.shape[0], D = t.shape[1], HW = t.shape[2] * t.shape[3]
            for b in 0..<B { for p in 0..<HW {
                var s: Float = 0
                for d in 0..<D { s += t.data[(b * D + d) * HW + p] * t.data[(b * D + d) * HW + p] }
                for d in 0..<D { out.data[(b * D + d) * HW + p] /= s.squareRoot() }
            } }
            return out
        }
        func mse(_ zt: Tensor, _ cb: Tensor) -> Double {
            let zh = normalised(zt)
            var e = cb
            for k in 0..<5 { var s: Float = 0; for d in 0..<3 { s += e.data[k * 3 + d] * e.data[k * 3 + d] }
                for d in 0..<3 { e.data[k * 3 + d] /= s.squareRoot() } }
            var acc = 0.0
            for b in 0..<2 { for d in 0..<3 { for p in 0..<4 {
                let diff = Double(zh.data[(b * 3 + d) * 4 + p] - e.data[ids[b * 4 + p] * 3 + d]); acc += diff * diff
            } } }
            return acc / Double(zt.count)
        }
        let cb0 = vq.codebook.value
        checkGradient("cosine vq dz", z, analytic: dz, h: 1e-3) { dot(normalised(z.value), r) + 0.25 * mse(z.value, cb0) }
        let z0 = z.value
        checkGradient("cosine vq dcodebook", vq.codebook, analytic: vq.codebook.grad, h: 1e-3) { mse(z0, vq.codebook.value) }
    }

    func testDeadCodesAreReinitialisedFromTheBatch() {
        var rng = SeededRNG(seed: 4)
        let vq = CosineCodebookQuantizer(codes: 4, dim: 2, backend: OpenBLASBackend(), rng: &rng)
        vq.codebook.value = Tensor(shape: [4, 2], data: [1, 0, 0, 1, -1, 0, 0, -1])
        let z = Tensor(shape: [1, 2, 1, 2], data: [2, 3, 0.1, 0.1])   // both pixels pick code 0
        for _ in 0..<400 { _ = vq.forward(z, training: true) }
        XCTAssertGreaterThan(vq.usage.value.data[0], 1.5)
        XCTAssertLessThan(vq.usage.value.data[3], 0.05)
        let n = vq.resetDeadCodes(minUsage: 0.05, rng: &rng)
        XCTAssertEqual(n, 3)
        let raw: [[Float]] = [[2, 0.1], [3, 0.1]]
        let batch: [[Float]] = raw.map { v in let n = (v[0] * v[0] + v[1] * v[1]).squareRoot(); return [v[0] / n, v[1] / n] }
        for k in 1..<4 {
            let e = Array(vq.codebook.value.data[(k * 2)..<(k * 2 + 2)])
            XCTAssertTrue(batch.contains { abs($0[0] - e[0]) < 1e-6 && abs($0[1] - e[1]) < 1e-6 }, "code \(k) = \(e) is not a normalised batch vector")
        }
    }
}
