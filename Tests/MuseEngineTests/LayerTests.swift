import XCTest
import Foundation
import MuseCore
@testable import MuseEngine
import CMuseKernels

final class LayerTests: XCTestCase {
    // MARK: Linear

    func testLinearForwardMatchesNaive() {
        var rng = SeededRNG(seed: 3)
        let lin = Linear(6, 4, backend: fp32Reference, rng: &rng)
        lin.bias!.value = randn([4], &rng)
        let x = randn([2, 3, 6], &rng)
        let y = lin.forward(x)
        XCTAssertEqual(y.shape, [2, 3, 4])
        var ref = naiveMatmul(x.data, transpose(lin.weight.value.data, 4, 6), m: 6, n: 4, k: 6)
        for r in 0..<6 { for j in 0..<4 { ref[r * 4 + j] += lin.bias!.value.data[j] } }
        assertClose(y, Tensor(shape: [2, 3, 4], data: ref), tol: 1e-5)
    }

    func testLinearBackward() {
        var rng = SeededRNG(seed: 4)
        let lin = Linear(5, 3, backend: fp32Reference, rng: &rng)
        let x = Parameter(randn([4, 5], &rng))
        let r = randn([4, 3], &rng)
        _ = lin.forward(x.value)
        let dx = lin.backward(r)
        let loss = { dot(lin.forward(x.value), r) }
        checkGradient("linear dx", x, analytic: dx, loss: loss)
        checkGradient("linear dW", lin.weight, analytic: lin.weight.grad, loss: loss)
        checkGradient("linear db", lin.bias!, analytic: lin.bias!.grad, loss: loss)
    }

    // MARK: Embedding

    func testEmbeddingForwardBackward() throws {
        var rng = SeededRNG(seed: 5)
        let emb = Embedding(count: 7, dim: 3, rng: &rng)
        let ids = [1, 4, 1, 6]
        let y = try emb.forward(ids, shape: [2, 2])
        XCTAssertEqual(y.shape, [2, 2, 3])
        for (r, id) in ids.enumerated() { for j in 0..<3 { XCTAssertEqual(y.data[r * 3 + j], emb.weight.value[id, j]) } }
        let g = randn([2, 2, 3], &rng)
        emb.backward(g)
        checkGradient("embedding dW", emb.weight, analytic: emb.weight.grad) { dot(try! emb.forward(ids, shape: [2, 2]), g) }
        XCTAssertThrowsError(try emb.forward([7], shape: [1]))
        XCTAssertThrowsError(try emb.forward([1, 2], shape: [3]))
    }

    // MARK: LayerNorm

    func testLayerNormForwardMatchesNaive() {
        var rng = SeededRNG(seed: 6)
        // Widths below, at and past the kernel's 16 lanes (vector part and tail).
        for D in [8, 16, 37] {
            let ln = LayerNorm(D, eps: 1e-5)
            ln.weight!.value = randn([D], &rng)
            ln.bias!.value = randn([D], &rng)
            let x = randn([5, D], &rng, std: 3)
            let y = ln.forward(x)
            var ref = Tensor(zeros: [5, D])
            for r in 0..<5 {
                let row = (0..<D).map { Double(x[r, $0]) }
                let m = row.reduce(0, +) / Double(D)
                let v = row.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(D)
                for j in 0..<D { ref[r, j] = Float((row[j] - m) / (v + 1e-5).squareRoot()) * ln.weight!.value.data[j] + ln.bias!.value.data[j] }
            }
            assertClose(y, ref, tol: 1e-5)
        }
    }

    func testLayerNormBackward() {
        var rng = SeededRNG(seed: 7)
        for D in [6, 35] {
            let ln = LayerNorm(D)
            ln.weight!.value = randn([D], &rng)
            ln.bias!.value = randn([D], &rng)
            let x = Parameter(randn([4, D], &rng))
            let r = randn([4, D], &rng)
            _ = ln.forward(x.value)
            let dx = ln.backward(r)
            let loss = { dot(ln.forward(x.value), r) }
            checkGradient("layernorm dx (D \(D))", x, analytic: dx, loss: loss)
            checkGradient("layernorm dgamma (D \(D))", ln.weight!, analytic: ln.weight!.grad, loss: loss)
            checkGradient("layernorm dbeta (D \(D))", ln.bias!, analytic: ln.bias!.grad, loss: loss)
        }
    }

    // MARK: Activations

    func testGELUForms() {
        var rng = SeededRNG(seed: 8)
        let x = randn([50], &rng, std: 2)
        for form in [GELU.Form.erf, .tanh] {
            let g = GELU(form)
            let y = g.forward(x)
            for i in 0..<50 {
                let v = Double(x.data[i])
                let ref = form == .erf ? 0.5 * v * (1 + Foundation.erf(v / 2.0.squareRoot()))
                    : 0.5 * v * (1 + Foundation.tanh((2 / Double.pi).squareRoot() * (v + 0.044715 * v * v * v)))
                XCTAssertEqual(Double(y.data[i]), ref, accuracy: 1e-6 * max(1, abs(v)))
            }
            let p = Parameter(x)
            let r = randn([50], &rng)
            _ = g.forward(p.value)
            checkGradient("gelu \(form)", p, analytic: g.backward(r), h: 1e-3) { dot(g.forward(p.value), r) }
        }
    }

    /// The vectorized erf behind GELU(.erf) against Double erf, densely over the range
    /// where it is not +-1, both sides of its switch at |x| = 0.9, tiny values and the tails.
    func testErfKernelMatchesDoubleErf() {
        var worst = 0.0
        for i in -800_000...800_000 {
            let x = Float(i) * 5e-6
            worst = max(worst, abs(Double(muse_erf(x)) - Foundation.erf(Double(x))))
        }
        XCTAssertLessThan(worst, 3e-7, "max abs error of muse_erf on [-4, 4]")
        for x: Float in [1e-30, 1e-10, 1e-4, 0.8999, 0.9, 0.9001] {
            let exact = Foundation.erf(Double(x))
            XCTAssertEqual(Double(muse_erf(x)), exact, accuracy: 3e-7 * exact, "relative error at \(x)")
            XCTAssertEqual(muse_erf(-x), -muse_erf(x), "odd at \(x)")
        }
        for x: Float in [5, 10, 100, 1e30, .infinity] {
            XCTAssertEqual(muse_erf(x), 1, "erf(\(x))")
            XCTAssertEqual(muse_erf(-x), -1, "erf(-\(x))")
        }
        XCTAssertTrue(muse_erf(.nan).isNaN)
    }

    func testSiLU() {
        var rng = SeededRNG(seed: 9)
        let x = Parameter(randn([40], &rng, std: 2))
        let s = SiLU()
        let y = s.forward(x.value)
        for i in 0..<40 { let v = Double(x.value.data[i]); XCTAssertEqual(Double(y.data[i]), v / (1 + Foundation.exp(-v)), accuracy: 1e-5) }
        let r = randn([40], &rng)
        checkGradient("silu", x, analytic: s.backward(r), h: 1e-3) { dot(s.forward(x.value), r) }
    }

    func testSoftmax() {
        var rng = SeededRNG(seed: 10)
        let x = Parameter(randn([3, 37], &rng, std: 2))
        let sm = Softmax()
        let y = sm.forward(x.value)
        for r in 0..<3 {
            let row = (0..<37).map { Double(x.value[r, $0]) }
            let m = row.max()!, z = row.map { Foundation.exp($0 - m) }.reduce(0, +)
            for j in 0..<37 { XCTAssertEqual(Double(y[r, j]), Foundation.exp(row[j] - m) / z, accuracy: 1e-6) }
        }
        let g = randn([3, 37], &rng)
        checkGradient("softmax", x, analytic: sm.backward(g), h: 1e-3) { dot(sm.forward(x.value), g) }
    }

    func testDropout() {
        var rng = SeededRNG(seed: 11)
        let d = Dropout(0.5)
        let x = Tensor(zeros: [1000], value: 1)
        let y = d.forward(x, training: true, rng: &rng)
        let kept = y.data.filter { $0 != 0 }
        XCTAssertTrue(kept.allSatisfy { $0 == 2 })
        XCTAssertGreaterThan(kept.count, 400); XCTAssertLessThan(kept.count, 600)
        let g = d.backward(Tensor(zeros: [1000], value: 1))
        XCTAssertEqual(g.data, y.data)
        XCTAssertEqual(d.forward(x, training: false, rng: &rng).data, x.data)
    }

    // MARK: Attention

    /// Naive per-(b, h) loop reference.
    func naiveAttention(_ q: Tensor, _ k: Tensor, _ v: Tensor, heads H: Int, mask: [Bool]?) -> Tensor {
        let B = q.shape[0], T = q.shape[1], S = k.shape[1], D = q.shape[2], dh = D / H
        var out = Tensor(zeros: [B, T, D])
        for b in 0..<B { for h in 0..<H { for t in 0..<T {
            var scores = [Double](repeating: -Double.infinity, count: S)
            for s in 0..<S where mask?[b * S + s] ?? true {
                var acc = 0.0
                for j in 0..<dh { acc += Double(q[b, t, h * dh + j]) * Double(k[b, s, h * dh + j]) }
                scores[s] = acc / Double(dh).squareRoot()
            }
            let m = scores.max()!
            if m == -Double.infinity { continue }
            let e = scores.map { Foundation.exp($0 - m) }
            let z = e.reduce(0, +)
            for j in 0..<dh {
                var acc = 0.0
                for s in 0..<S { acc += e[s] / z * Double(v[b, s, h * dh + j]) }
                out[b, t, h * dh + j] = Float(acc)
            }
        } } }
        return out
    }

    func testAttentionCoreForwardMatchesNaiveWithMask() {
        var rng = SeededRNG(seed: 12)
        let B = 2, T = 5, S = 4, D = 8, H = 2
        let q = randn([B, T, D], &rng), k = randn([B, S, D], &rng), v = randn([B, S, D], &rng)
        let mask = [true, true, false, true, true, false, false, false]
        let att = ScaledDotProductAttention(heads: H, backend: fp32Reference)
        assertClose(att.forward(q: q, k: k, v: v, keyMask: mask), naiveAttention(q, k, v, heads: H, mask: mask), tol: 1e-5)
        assertClose(att.forward(q: q, k: k, v: v), naiveAttention(q, k, v, heads: H, mask: nil), tol: 1e-5)
    }

    func testAttentionCoreBackward() {
        var rng = SeededRNG(seed: 13)
        let B = 2, T = 3, S = 4, D = 4, H = 2
        let q = Parameter(randn([B, T, D], &rng)), k = Parameter(randn([B, S, D], &rng)), v = Parameter(randn([B, S, D], &rng))
        let mask = [true, false, true, true, true, true, false, true]
        let att = ScaledDotProductAttention(heads: H, backend: fp32Reference)
        let r = randn([B, T, D], &rng)
        let loss = { dot(att.forward(q: q.value, k: k.value, v: v.value, keyMask: mask), r) }
        _ = loss()
        let g = att.backward(r)
        checkGradient("attention dq", q, analytic: g.dq, loss: loss)
        checkGradient("attention dk", k, analytic: g.dk, loss: loss)
        checkGradient("attention dv", v, analytic: g.dv, loss: loss)
        // Masked keys get no gradient.
        for j in 0..<D { XCTAssertEqual(g.dk[0, 1, j], 0); XCTAssertEqual(g.dv[1, 2, j], 0) }
    }

    func testMultiHeadSelfAndCrossAttentionBackward() {
        var rng = SeededRNG(seed: 14)
        let B = 2, T = 3, S = 2, D = 8, C = 6, H = 2
        for cross in [false, true] {
            let mha = MultiHeadAttention(dim: D, heads: H, contextDim: cross ? C : nil, backend: fp32Reference, rng: &rng)
            let x = Parameter(randn([B, T, D], &rng))
            let ctx = Parameter(randn([B, S, C], &rng))
            let mask: [Bool]? = cross ? [true, false, true, true] : [true, true, false, true, true, true]
            let r = randn([B, T, D], &rng)
            let loss = { dot(mha.forward(x.value, context: cross ? ctx.value : nil, keyMask: mask), r) }
            _ = loss()
            let g = mha.backward(r)
            checkGradient("mha dx cross=\(cross)", x, analytic: g.dx, loss: loss)
            if cross { checkGradient("mha dcontext", ctx, analytic: g.dcontext!, loss: loss) }
            for (name, p) in mha.namedParameters {
                checkGradient("mha \(name) cross=\(cross)", p, analytic: p.grad, samples: 8, loss: loss)
            }
            XCTAssertEqual(mha.namedParameters.map { $0.name }, ["q.weight", "q.bias", "k.weight", "k.bias", "v.weight", "v.bias", "o.weight", "o.bias"])
        }
    }
}
