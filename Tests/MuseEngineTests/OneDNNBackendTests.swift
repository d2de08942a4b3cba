import XCTest
import MuseCore
@testable import MuseEngine

/// The bf16 oneDNN backend against the fp32 OpenBLAS reference: every op
/// agrees within bf16 tolerance (inputs rounded to 8 mantissa bits, fp32
/// accumulation), on any CPU where oneDNN has bf16 (it emulates bf16 on AVX-512
/// CPUs without AMX; on AVX2-only CPUs it has none and these tests are skipped).
final class OneDNNBackendTests: XCTestCase {
    var bf16: OneDNNBackend!
    let fp32 = OpenBLASBackend()
    override func setUpWithError() throws {
        if OneDNNBackend.isAvailable { bf16 = try OneDNNBackend() }
    }

    /// Skips the test where this CPU has no oneDNN bf16 at all.
    func requireBF16() throws {
        try XCTSkipUnless(OneDNNBackend.isAvailable, OneDNNBackend.unavailableReason ?? "")
    }

    /// max |a - b| relative to max |b|.
    func relativeError(_ a: [Float], _ b: [Float]) -> Float {
        let scale = max(b.map(abs).max() ?? 1, 1e-6)
        return zip(a, b).map { abs($0 - $1) }.max()! / scale
    }

    func testGemmAllTransposesAlphaBeta() throws {
        try requireBF16()
        var rng = SeededRNG(seed: 1)
        let m = 37, n = 29, k = 53
        let a = randn([m * k], &rng).data, b = randn([k * n], &rng).data, c0 = randn([m * n], &rng).data
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            for (alpha, beta) in [(Float(1), Float(0)), (0.5, 1), (2, -0.5)] {
                var c1 = c0, c2 = c0
                fp32.gemm(transA: ta, transB: tb, m: m, n: n, k: k, alpha: alpha, a: a, lda: ta ? m : k, b: b, ldb: tb ? k : n,
                          beta: beta, c: &c1, ldc: n)
                bf16.gemm(transA: ta, transB: tb, m: m, n: n, k: k, alpha: alpha, a: a, lda: ta ? m : k, b: b, ldb: tb ? k : n,
                          beta: beta, c: &c2, ldc: n)
                XCTAssertLessThan(relativeError(c2, c1), 1e-2, "transA \(ta) transB \(tb) alpha \(alpha) beta \(beta)")
            }
        }
    }

    func testGemmLeadingDimensionsAndBatched() throws {
        try requireBF16()
        var rng = SeededRNG(seed: 2)
        // C is a 5x6 window of an 8-wide matrix: ldc 8, the rest untouched.
        let a = randn([5 * 7], &rng).data, b = randn([7 * 6], &rng).data
        var c1 = [Float](repeating: 3, count: 5 * 8), c2 = c1
        fp32.gemm(transA: false, transB: false, m: 5, n: 6, k: 7, alpha: 1, a: a, lda: 7, b: b, ldb: 6, beta: 0, c: &c1, ldc: 8)
        bf16.gemm(transA: false, transB: false, m: 5, n: 6, k: 7, alpha: 1, a: a, lda: 7, b: b, ldb: 6, beta: 0, c: &c2, ldc: 8)
        XCTAssertLessThan(relativeError(c2, c1), 1e-2)
        for r in 0..<5 { XCTAssertEqual(c2[r * 8 + 6], 3); XCTAssertEqual(c2[r * 8 + 7], 3) }
        // Batched: 4 problems of 8x8x8 packed one after another.
        let A = randn([4 * 64], &rng).data, B = randn([4 * 64], &rng).data
        var C1 = [Float](repeating: 0, count: 256), C2 = C1
        for (be, out) in [(fp32 as ComputeBackend, 0), (bf16 as ComputeBackend, 1)] {
            var c = [Float](repeating: 0, count: 256)
            be.gemmBatched(count: 4, transA: false, transB: true, m: 8, n: 8, k: 8, alpha: 1, a: A, lda: 8, b: B, ldb: 8,
                           beta: 0, c: &c, ldc: 8) { i in (i * 64, i * 64, i * 64) }
            if out == 0 { C1 = c } else { C2 = c }
        }
        XCTAssertLessThan(relativeError(C2, C1), 1e-2)
    }

    func testConvolutionForwardAndBackward() throws {
        try requireBF16()
        var rng = SeededRNG(seed: 3)
        // (kernel, stride, padding) on odd and even sizes: strided geometries whose
        // last window stops short of the input edge need a right padding below the
        // left one (negative for k1 s2 on even sizes).
        let cases: [(k: Int, s: Int, p: Int, h: Int, w: Int)] = [
            (3, 1, 1, 9, 8), (3, 2, 1, 9, 8), (1, 1, 0, 9, 8),
            (1, 2, 0, 8, 8), (1, 2, 0, 9, 9), (1, 2, 0, 9, 8),
            (3, 2, 1, 8, 8), (3, 2, 1, 9, 9), (3, 2, 1, 7, 10),
            (3, 2, 0, 8, 9), (4, 2, 1, 8, 9), (2, 2, 0, 9, 8), (3, 3, 0, 10, 11),
        ]
        for (k, s, pad, h, wd) in cases {
            let g = Conv2dGeometry(batch: 2, inChannels: 5, height: h, width: wd, outChannels: 6, kernel: k, stride: s, padding: pad)
            let label = "k\(k) s\(s) p\(pad) \(h)x\(wd)"
            // Padding at the right/bottom in oneDNN's terms reproduces our output size.
            XCTAssertEqual((h + pad + OneDNNBackend.rightPadding(size: h, out: g.outHeight, kernel: k, stride: s, padding: pad) - k) / s + 1,
                           g.outHeight, label)
            let x = randn([2 * 5 * h * wd], &rng).data, w = randn([6 * 5 * k * k], &rng, std: 0.3).data, bias = randn([6], &rng).data
            let ny = 2 * 6 * g.outHeight * g.outWidth
            var y1 = [Float](repeating: 0, count: ny), y2 = y1
            fp32.conv2dForward(g, x: x, w: w, bias: bias, y: &y1)
            bf16.conv2dForward(g, x: x, w: w, bias: bias, y: &y2)
            XCTAssertLessThan(relativeError(y2, y1), 1e-2, "forward \(label)")
            var y3 = [Float](repeating: 0, count: ny), y4 = y3
            fp32.conv2dForward(g, x: x, w: w, bias: nil, y: &y3)
            bf16.conv2dForward(g, x: x, w: w, bias: nil, y: &y4)
            XCTAssertLessThan(relativeError(y4, y3), 1e-2, "forward without bias \(label)")

            let dy = randn([ny], &rng).data
            var dx1 = [Float](repeating: 0, count: x.count), dx2 = dx1
            // The seam accumulates dw and dbias: start both from large presets, so an
            // overwriting backend would be far off; what it adds is the fp32 gradient.
            let wPreset: Float = 100, bPreset: Float = -50
            var dw1 = [Float](repeating: wPreset, count: w.count), dw2 = dw1
            var db1 = [Float](repeating: bPreset, count: 6), db2 = db1
            fp32.conv2dBackward(g, x: x, w: w, dy: dy, dx: &dx1, dw: &dw1, dbias: &db1)
            bf16.conv2dBackward(g, x: x, w: w, dy: dy, dx: &dx2, dw: &dw2, dbias: &db2)
            XCTAssertLessThan(relativeError(dx2, dx1), 1e-2, "dx \(label)")
            XCTAssertLessThan(relativeError(dw2.map { $0 - wPreset }, dw1.map { $0 - wPreset }), 1e-2, "dw \(label)")
            XCTAssertLessThan(relativeError(db2.map { $0 - bPreset }, db1.map { $0 - bPreset }), 1e-2, "dbias \(label)")
        }
    }

    /// bf16 rounding, bit for bit: nearest even, NaN stays NaN, overflow gives Inf.
    func testBF16RoundingExact() {
        let cases: [(UInt32, UInt16, String)] = [
            (0x3F80_0000, 0x3F80, "1.0 exact"),
            (0x3F80_8000, 0x3F80, "tie to even (down)"),
            (0x3F81_8000, 0x3F82, "tie to even (up)"),
            (0x3F80_8001, 0x3F81, "above the tie"),
            (0x3F80_7FFF, 0x3F80, "below the tie"),
            (0xBF81_8000, 0xBF82, "negative tie to even"),
            (0x7F7F_FFFF, 0x7F80, "largest finite overflows to +Inf"),
            (0xFF7F_FFFF, 0xFF80, "most negative finite overflows to -Inf"),
            (0x7F7F_7FFF, 0x7F7F, "largest value that stays finite"),
            (0x7F80_0000, 0x7F80, "+Inf"),
            (0xFF80_0000, 0xFF80, "-Inf"),
            (0x7F80_0001, 0x7FC0, "signalling NaN with a low payload"),
            (0x7FC0_0000, 0x7FC0, "quiet NaN"),
            (0x7FFF_FFFF, 0x7FFF, "NaN with every payload bit"),
            (0xFFFF_FFFF, 0xFFFF, "negative NaN with every payload bit"),
            (0xFF80_0001, 0xFFC0, "negative signalling NaN"),
            (0x0000_0000, 0x0000, "+0"),
            (0x8000_0000, 0x8000, "-0"),
            (0x0000_0001, 0x0000, "smallest denormal rounds to +0"),
            (0x8000_0001, 0x8000, "smallest negative denormal rounds to -0"),
            (0x0000_8000, 0x0000, "denormal tie to even (down)"),
            (0x0001_8000, 0x0002, "denormal tie to even (up)"),
            (0x0001_0000, 0x0001, "smallest bf16 denormal"),
            (0x007F_FFFF, 0x0080, "largest denormal rounds up to the smallest normal"),
        ]
        for (bits, expected, label) in cases {
            let got = OneDNNBackend.roundToBF16(Float(bitPattern: bits))
            XCTAssertEqual(got, expected, "\(label): 0x\(String(bits, radix: 16)) -> 0x\(String(got, radix: 16))")
        }
        // Every NaN stays NaN with its sign; the bulk conversion agrees.
        for bits: UInt32 in [0x7F80_0001, 0x7F80_FFFF, 0x7FBF_FFFF, 0xFF80_0001, 0xFFFF_0000, 0xFFFF_FFFF] {
            let back = Float(bitPattern: UInt32(OneDNNBackend.roundToBF16(Float(bitPattern: bits))) << 16)
            XCTAssertTrue(back.isNaN, "0x\(String(bits, radix: 16))")
            XCTAssertEqual(back.sign, Float(bitPattern: bits).sign)
        }
        let src: [Float] = cases.map { Float(bitPattern: $0.0) }
        var dst = [UInt16](repeating: 0, count: src.count)
        OneDNNBackend.toBF16(src, rows: 1, cols: src.count, ld: src.count, transpose: false, into: &dst)
        XCTAssertEqual(dst, cases.map { $0.1 })
    }

    /// Whole layers on the backend given at init: the same block (same seed,
    /// same weights) built on fp32 and on bf16 runs every GEMM on its own backend.
    func testLayersRunOnTheirBackend() throws {
        try requireBF16()
        func make(_ backend: ComputeBackend) -> TransformerBlock {
            var rng = SeededRNG(seed: 4)
            return TransformerBlock(dim: 32, heads: 4, contextDim: 24, backend: backend, rng: &rng)
        }
        let onFP32 = make(fp32), onBF16 = make(bf16)
        XCTAssertTrue(onBF16.attn.q.backend === bf16 && onBF16.attn.core.backend === bf16 && onBF16.mlp.fc2.backend === bf16)
        XCTAssertTrue(onBF16.cross!.o.backend === bf16)
        var rng = SeededRNG(seed: 5)
        let x = randn([2, 10, 32], &rng), ctx = randn([2, 6, 24], &rng)
        let y1 = onFP32.forward(x, context: ctx)
        let y2 = onBF16.forward(x, context: ctx)
        XCTAssertLessThan(relativeError(y2.data, y1.data), 2e-2)
        XCTAssertNotEqual(y1.data, y2.data, "the bf16 path must really round operands")
        // Running the bf16 block leaves the fp32 one (and the process default) alone.
        XCTAssertEqual(onFP32.forward(x, context: ctx).data, y1.data)
    }
}

/// Mixed-precision training learns like fp32 (a short run; `muse-train
/// precision-check` runs thousands of steps).
final class MixedPrecisionTrainingTests: XCTestCase {
    func testShortRunsTrackFP32() throws {
        try XCTSkipUnless(OneDNNBackend.isAvailable, OneDNNBackend.unavailableReason ?? "")
        for task in MixedPrecisionCheck.Task.allCases {
            let steps = 90
            let a = MixedPrecisionCheck.run(task, steps: steps, seed: 3, backend: OpenBLASBackend()).losses
            let b = MixedPrecisionCheck.run(task, steps: steps, seed: 3, backend: try OneDNNBackend()).losses
            let wa = MixedPrecisionCheck.windowMeans(a, window: 30), wb = MixedPrecisionCheck.windowMeans(b, window: 30)
            // Both learn: the last window is well below the first.
            XCTAssertLessThan(wa.last!, 0.95 * wa.first!, "\(task) fp32 did not learn: \(wa)")
            XCTAssertLessThan(wb.last!, 0.95 * wb.first!, "\(task) bf16 did not learn: \(wb)")
            // And the curves agree: same start, and late windows within 15%.
            XCTAssertEqual(a[0], b[0], accuracy: 0.02 * a[0], "\(task) first loss")
            XCTAssertLessThan(abs(wb.last! - wa.last!) / wa.last!, 0.15, "\(task): fp32 \(wa) vs bf16 \(wb)")
        }
    }
}
