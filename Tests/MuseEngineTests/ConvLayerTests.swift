import XCTest
import Foundation
import MuseCore
import CMuseKernels
@testable import MuseEngine

final class ConvLayerTests: XCTestCase {
    /// Naive 7-loop convolution reference.
    func naiveConv(_ x: Tensor, _ w: Tensor, _ b: Tensor?, stride s: Int, padding p: Int) -> Tensor {
        let B = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3], O = w.shape[0], k = w.shape[2]
        let oh = (H + 2 * p - k) / s + 1, ow = (W + 2 * p - k) / s + 1
        var y = Tensor(zeros: [B, O, oh, ow])
        for n in 0..<B { for o in 0..<O { for i in 0..<oh { for j in 0..<ow {
            var acc = Double(b?.data[o] ?? 0)
            for c in 0..<C { for ki in 0..<k { for kj in 0..<k {
                let yy = i * s - p + ki, xx = j * s - p + kj
                if yy >= 0 && yy < H && xx >= 0 && xx < W { acc += Double(x[n, c, yy, xx]) * Double(w[o, c, ki, kj]) }
            } } }
            y[n, o, i, j] = Float(acc)
        } } } }
        return y
    }

    let configs: [(k: Int, s: Int, p: Int)] = [(3, 1, 1), (3, 2, 1), (1, 1, 0), (1, 2, 0), (3, 2, 0)]

    func testConvForwardMatchesNaive() {
        var rng = SeededRNG(seed: 20)
        for c in configs {
            let conv = Conv2d(3, 4, kernel: c.k, stride: c.s, padding: c.p, backend: fp32Reference, rng: &rng)
            conv.bias!.value = randn([4], &rng)
            let x = randn([3, 3, 7, 6], &rng)
            assertClose(conv.forward(x), naiveConv(x, conv.weight.value, conv.bias!.value, stride: c.s, padding: c.p), tol: 1e-5, "conv \(c)")
        }
    }

    func testConvBackward() {
        var rng = SeededRNG(seed: 21)
        for c in configs {
            let conv = Conv2d(2, 3, kernel: c.k, stride: c.s, padding: c.p, backend: fp32Reference, rng: &rng)
            let x = Parameter(randn([3, 2, 5, 6], &rng))
            let y0 = conv.forward(x.value)
            let r = randn(y0.shape, &rng)
            let dx = conv.backward(r)
            let loss = { dot(conv.forward(x.value), r) }
            checkGradient("conv dx \(c)", x, analytic: dx, loss: loss)
            checkGradient("conv dw \(c)", conv.weight, analytic: conv.weight.grad, loss: loss)
            checkGradient("conv db \(c)", conv.bias!, analytic: conv.bias!.grad, loss: loss)
        }
    }

    /// The 3x3 stride-1 paths against the im2col path, forward and all gradients: shifted
    /// GEMMs, and the direct kernel's AVX2 and AVX-512 variants where this CPU has them
    /// (each falls back to GEMMs for channel counts off its block: 6 and 3 here). Shapes
    /// with uneven widths, column counts off the kernel's block, several images per worker
    /// and bias; and each path's forward against the naive loops.
    func testConv3x3PathsMatchIm2col() {
        var rng = SeededRNG(seed: 23)
        let im2col = OpenBLASBackend(conv3x3: .im2col)
        var paths: [(String, OpenBLASBackend)] = [("shifted GEMMs", OpenBLASBackend(conv3x3: .shiftedGEMM))]
        for (variant, label) in [(Int32(1), "direct AVX2"), (2, "direct AVX-512")] where OpenBLASBackend.hasDirectConv3x3(variant: variant) {
            paths.append((label, OpenBLASBackend(conv3x3: .direct(variant: variant))))
        }
        if !OpenBLASBackend.hasDirectConv3x3(variant: 1) { print("note: this CPU has no direct 3x3 kernel (no AVX2 + FMA); GEMM paths only") }
        for (label, backend) in paths {
            // 40 channels: more than one block of 32 input rows in the direct kernels. The last two
            // have over 1,024 columns (H (W + 2)), where the direct weight-gradient kernel runs.
            for (b, cin, cout, h, w) in [(5, 3, 6, 9, 7), (2, 8, 4, 4, 4), (1, 1, 1, 1, 1), (3, 8, 16, 5, 11), (2, 16, 8, 12, 12),
                                         (1, 40, 40, 6, 7), (1, 4, 8, 30, 32), (1, 8, 8, 31, 33)] {
                let shape = "\(label) \((b, cin, cout, h, w))"
                let a = Conv2d(cin, cout, kernel: 3, backend: im2col, rng: &rng)
                let c = Conv2d(cin, cout, kernel: 3, backend: backend, rng: &rng)
                c.weight.value = a.weight.value
                a.bias!.value = randn([cout], &rng); c.bias!.value = a.bias!.value
                let x = randn([b, cin, h, w], &rng), dy = randn([b, cout, h, w], &rng)
                let ya = a.forward(x), yc = c.forward(x)
                assertClose(yc, ya, tol: 1e-5, "forward \(shape)")
                assertClose(yc, naiveConv(x, c.weight.value, c.bias!.value, stride: 1, padding: 1), tol: 1e-5, "vs naive \(shape)")
                let dxa = a.backward(dy), dxc = c.backward(dy)
                assertClose(dxc, dxa, tol: 1e-5, "dx \(shape)")
                assertClose(c.weight.grad, a.weight.grad, tol: 1e-5, "dw \(shape)")
                assertClose(c.bias!.grad, a.bias!.grad, tol: 1e-5, "dbias \(shape)")
                // Gradients accumulate on top of what is there.
                _ = c.backward(dy)
                var twice = a.weight.grad; twice.scale(2)
                assertClose(c.weight.grad, twice, tol: 1e-5, "dw accumulates \(shape)")
            }
        }
    }

    /// The direct kernels refuse (write nothing, return 0) sizes off their blocks and
    /// variants this CPU lacks, so a caller can always fall back to GEMMs.
    func testDirectConv3x3KernelsRefuseWhatTheyCannotDo() {
        let inp = [Float](repeating: 1, count: 4096), w = [Float](repeating: 1, count: 9 * 8 * 8)
        let shift = [Int](repeating: 0, count: 9)
        var out = [Float](repeating: 7, count: 4096)
        for variant: Int32 in [1, 2] {
            let has = OpenBLASBackend.hasDirectConv3x3(variant: variant)
            let rows = Int(muse_conv3x3_taps_block_rows(variant)), cols = Int(muse_conv3x3_taps_block_columns(variant))
            XCTAssertEqual(muse_conv3x3_taps(variant, inp, 512, 8, w, Int32(rows + 1), shift, &out, 48, cols), 0, "rows off the block")
            XCTAssertEqual(muse_conv3x3_taps(variant, inp, 512, 8, w, Int32(rows), shift, &out, 48, cols + 1), 0, "columns off the block")
            XCTAssertEqual(muse_conv3x3_grad(variant, inp, 64, 3, inp, 512, 4, shift, &out, 64), 0, "gradient rows off the block")
            XCTAssertTrue(out.allSatisfy { $0 == 7 })
            // On a CPU with the variant, a call on the block computes: 9 taps x 8 rows of ones.
            XCTAssertEqual(muse_conv3x3_taps(variant, inp, 512, 8, w, Int32(rows), shift, &out, 48, cols), has ? 1 : 0)
            if has { XCTAssertEqual(out[0], 72); XCTAssertEqual(out[(rows - 1) * 48 + cols - 1], 72) }
            out = [Float](repeating: 7, count: 4096)
        }
        XCTAssertEqual(muse_conv3x3_taps_variant(3), 0, "no variant 3")
    }

    func testGroupNormForwardAndBackward() {
        var rng = SeededRNG(seed: 22)
        // 3x3: 18 values per group (one 16-lane block and a tail), 9 per channel;
        // 5x7: 70 per group, 35 per channel (blocks and tails in both reductions).
        for (H, W) in [(3, 3), (5, 7)] {
            let gn = GroupNorm(groups: 2, channels: 4, eps: 1e-6)
            gn.weight.value = randn([4], &rng); gn.bias.value = randn([4], &rng)
            let x = Parameter(randn([2, 4, H, W], &rng, std: 2))
            let y = gn.forward(x.value)
            let n = Double(2 * H * W)
            for b in 0..<2 { for g in 0..<2 {
                var vals: [Double] = []
                for c in (2 * g)..<(2 * g + 2) { for i in 0..<H { for j in 0..<W { vals.append(Double(x.value[b, c, i, j])) } } }
                let m = vals.reduce(0, +) / n, v = vals.map { ($0 - m) * ($0 - m) }.reduce(0, +) / n
                for c in (2 * g)..<(2 * g + 2) { for i in 0..<H { for j in 0..<W {
                    let ref = (Double(x.value[b, c, i, j]) - m) / (v + 1e-6).squareRoot() * Double(gn.weight.value.data[c]) + Double(gn.bias.value.data[c])
                    XCTAssertEqual(Double(y[b, c, i, j]), ref, accuracy: 1e-4)
                } } }
            } }
            let r = randn(y.shape, &rng)
            let dx = gn.backward(r)
            let loss = { dot(gn.forward(x.value), r) }
            checkGradient("groupnorm dx \(H)x\(W)", x, analytic: dx, loss: loss)
            checkGradient("groupnorm dgamma \(H)x\(W)", gn.weight, analytic: gn.weight.grad, loss: loss)
            checkGradient("groupnorm dbeta \(H)x\(W)", gn.bias, analytic: gn.bias.grad, loss: loss)
        }
    }

    func testUpsample() {
        var rng = SeededRNG(seed: 23)
        let up = Upsample2x()
        let x = Parameter(randn([2, 3, 2, 3], &rng))
        let y = up.forward(x.value)
        XCTAssertEqual(y.shape, [2, 3, 4, 6])
        for b in 0..<2 { for c in 0..<3 { for i in 0..<4 { for j in 0..<6 { XCTAssertEqual(y[b, c, i, j], x.value[b, c, i / 2, j / 2]) } } } }
        let r = randn(y.shape, &rng)
        checkGradient("upsample", x, analytic: up.backward(r)) { dot(up.forward(x.value), r) }
    }

    func testCrossEntropySelectedWithSmoothing() {
        var rng = SeededRNG(seed: 24)
        let logits = Parameter(randn([5, 6], &rng, std: 2))
        let targets = [1, 5, 0, 3, 2]
        let sel = [true, false, true, true, false]
        for eps: Float in [0, 0.1] {
            let res = Losses.crossEntropy(logits: logits.value, targets: targets, selected: sel, labelSmoothing: eps)
            var ref = 0.0
            for r in 0..<5 where sel[r] {
                let z = (0..<6).map { Double(logits.value[r, $0]) }
                let lse = Foundation.log(z.map { Foundation.exp($0) }.reduce(0, +))
                for j in 0..<6 {
                    let q = (j == targets[r] ? 1 - Double(eps) : 0) + Double(eps) / 6
                    ref -= q * (z[j] - lse)
                }
            }
            XCTAssertEqual(Double(res.loss), ref / 3, accuracy: 1e-5)
            for j in 0..<6 { XCTAssertEqual(res.grad[1, j], 0) }
            checkGradient("cross-entropy eps \(eps)", logits, analytic: res.grad, h: 1e-3) {
                Double(Losses.crossEntropy(logits: logits.value, targets: targets, selected: sel, labelSmoothing: eps).loss)
            }
        }
        XCTAssertEqual(Losses.crossEntropy(logits: logits.value, targets: targets, selected: [Bool](repeating: false, count: 5)).loss, 0)
    }

    func testL1AndL2() {
        var rng = SeededRNG(seed: 25)
        let p = Parameter(randn([10], &rng)), t = randn([10], &rng)
        let l2 = Losses.mse(p.value, t), l1 = Losses.l1(p.value, t)
        XCTAssertEqual(Double(l2.loss), (0..<10).map { Double(p.value.data[$0] - t.data[$0]) }.map { $0 * $0 }.reduce(0, +) / 10, accuracy: 1e-6)
        XCTAssertEqual(Double(l1.loss), (0..<10).map { abs(Double(p.value.data[$0] - t.data[$0])) }.reduce(0, +) / 10, accuracy: 1e-6)
        checkGradient("mse", p, analytic: l2.grad, h: 1e-3) { Double(Losses.mse(p.value, t).loss) }
        checkGradient("l1", p, analytic: l1.grad, h: 1e-3) { Double(Losses.l1(p.value, t).loss) }
    }

    func testVectorQuantizerNearestAndGradients() {
        var rng = SeededRNG(seed: 26)
        let vq = VectorQuantizer(codes: 9, dim: 3, beta: 0.25, backend: fp32Reference, rng: &rng)
        vq.codebook.value = randn([9, 3], &rng)
        let z = Parameter(randn([2, 3, 2, 2], &rng))
        let out = vq.forward(z.value)
        // Nearest entry by brute force.
        for b in 0..<2 { for p in 0..<4 {
            let v = (0..<3).map { z.value[b, $0, p / 2, p % 2] }
            let dists = (0..<9).map { k in (0..<3).map { (v[$0] - vq.codebook.value[k, $0]) * (v[$0] - vq.codebook.value[k, $0]) }.reduce(0, +) }
            let best = dists.indices.min { dists[$0] < dists[$1] }!
            XCTAssertEqual(out.indices[b * 4 + p], best)
            for d in 0..<3 { XCTAssertEqual(out.quantized[b, d, p / 2, p % 2], vq.codebook.value[best, d]) }
        } }
        // Straight-through plus commitment gradient; codebook gradient from the codebook loss.
        let r = randn(z.value.shape, &rng)
        let dz = vq.backward(r)
        var commit = dz
        for i in 0..<commit.count { commit.data[i] = (dz.data[i] - r.data[i]) / vq.beta }
        checkGradient("vq commitment dz", z, analytic: commit, h: 1e-3) { Double(vq.forward(z.value).commitmentLoss) }
        _ = vq.forward(z.value)
        checkGradient("vq codebook grad", vq.codebook, analytic: vq.codebook.grad, h: 1e-3) { Double(vq.forward(z.value).codebookLoss) }
        XCTAssertEqual(vq.namedParameters.map { $0.name }, ["codebook"])
    }

    func testVectorQuantizerEMAAndDeadCodes() {
        var rng = SeededRNG(seed: 27)
        let vq = VectorQuantizer(codes: 4, dim: 2, update: .ema(decay: 0.5), backend: fp32Reference, rng: &rng)
        vq.epsilon = 0
        vq.codebook.value = Tensor(shape: [4, 2], data: [0, 0, 10, 10, 100, 100, -50, 50])
        vq.emaSum.value = vq.codebook.value
        // All four pixels near code 0 and 1.
        let z = Tensor(shape: [1, 2, 2, 2], data: [1, 2, 9, 11, 1, 2, 9, 11])   // vectors (1,1) (2,2) (9,9) (11,11)
        let out = vq.forward(z, training: true)
        XCTAssertEqual(out.indices, [0, 0, 1, 1])
        // count_0 = 0.5*1 + 0.5*2 = 1.5, sum_0 = 0.5*(0,0) + 0.5*(3,3) = (1.5,1.5) -> smoothed count = 1.5 -> e0 = (1, 1)
        XCTAssertEqual(vq.codebook.value[0, 0], 1, accuracy: 1e-5)
        // code 1: count 1.5, sum 0.5*(10,10) + 0.5*(20,20) = (15,15) -> (10, 10)
        XCTAssertEqual(vq.codebook.value[1, 1], 10, accuracy: 1e-5)
        XCTAssertEqual(out.loss, vq.beta * out.commitmentLoss)
        XCTAssertTrue(vq.namedParameters.isEmpty)
        XCTAssertEqual(vq.namedBuffers.map { $0.name }, ["codebook", "usage", "ema_count", "ema_sum"])
        // Codes 2 and 3 unused: usage 0.99*1 -> below 1, reset to input vectors.
        let n = vq.resetDeadCodes(minUsage: 0.995, rng: &rng)
        XCTAssertEqual(n, 2)
        let inputs: Set<[Float]> = [[1, 1], [2, 2], [9, 9], [11, 11]]
        XCTAssertTrue(inputs.contains([vq.codebook.value[2, 0], vq.codebook.value[2, 1]]))
        XCTAssertTrue(inputs.contains([vq.codebook.value[3, 0], vq.codebook.value[3, 1]]))
    }
}
