import XCTest
import MuseCore
@testable import MuseEngine

/// The bf16 oneDNN backend against the fp32 OpenBLAS reference: every op
/// agrees within bf16 tolerance (inputs rounded to 8 mantissa bits, fp32
/// accumulation), on any CPU (oneDNN emulates bf16 where it is not native).
final class OneDNNBackendTests: XCTestCase {
    var bf16: OneDNNBackend!
    let fp32 = OpenBLASBackend()
    override func setUpWithError() throws { bf16 = try OneDNNBackend() }

    /// max |a - b| relative to max |b|.
    func relativeError(_ a: [Float], _ b: [Float]) -> Float {
        let scale = max(b.map(abs).max() ?? 1, 1e-6)
        return zip(a, b).map { abs($0 - $1) }.max()! / scale
    }

    func testGemmAllTransposesAlphaBeta() {
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

    func testGemmLeadingDimensionsAndBatched() {
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

    func testConvolutionForwardAndBackward() {
        var rng = SeededRNG(seed: 3)
        for (k, s) in [(3, 1), (3, 2), (1, 1)] {
            let g = Conv2dGeometry(batch: 2, inChannels: 5, height: 9, width: 8, outChannels: 6, kernel: k, stride: s, padding: k / 2)
            let x = randn([2 * 5 * 9 * 8], &rng).data, w = randn([6 * 5 * k * k], &rng, std: 0.3).data, bias = randn([6], &rng).data
            let ny = 2 * 6 * g.outHeight * g.outWidth
            var y1 = [Float](repeating: 0, count: ny), y2 = y1
            fp32.conv2dForward(g, x: x, w: w, bias: bias, y: &y1)
            bf16.conv2dForward(g, x: x, w: w, bias: bias, y: &y2)
            XCTAssertLessThan(relativeError(y2, y1), 1e-2, "forward k\(k) s\(s)")
            var y3 = [Float](repeating: 0, count: ny), y4 = y3
            fp32.conv2dForward(g, x: x, w: w, bias: nil, y: &y3)
            bf16.conv2dForward(g, x: x, w: w, bias: nil, y: &y4)
            XCTAssertLessThan(relativeError(y4, y3), 1e-2, "forward without bias k\(k) s\(s)")

            let dy = randn([ny], &rng).data
            var dx1 = [Float](repeating: 0, count: x.count), dx2 = dx1
            // The seam accumulates dw and dbias: start both from the same non-zero values.
            var dw1 = [Float](repeating: 0.25, count: w.count), dw2 = dw1
            var db1 = [Float](repeating: -1, count: 6), db2 = db1
            fp32.conv2dBackward(g, x: x, w: w, dy: dy, dx: &dx1, dw: &dw1, dbias: &db1)
            bf16.conv2dBackward(g, x: x, w: w, dy: dy, dx: &dx2, dw: &dw2, dbias: &db2)
            XCTAssertLessThan(relativeError(dx2, dx1), 1e-2, "dx k\(k) s\(s)")
            XCTAssertLessThan(relativeError(dw2, dw1), 1e-2, "dw k\(k) s\(s)")
            XCTAssertLessThan(relativeError(db2, db1), 1e-2, "dbias k\(k) s\(s)")
        }
    }

    /// Whole layers through `Engine.backend`: switching the backend switches every GEMM.
    func testBackendSwitchRunsLayersOnBF16() throws {
        var rng = SeededRNG(seed: 4)
        let block = TransformerBlock(dim: 32, heads: 4, contextDim: 24, rng: &rng)
        let x = randn([2, 10, 32], &rng), ctx = randn([2, 6, 24], &rng)
        let saved = Engine.backend
        defer { Engine.backend = saved }
        Engine.backend = fp32
        let y1 = block.forward(x, context: ctx)
        Engine.backend = bf16
        XCTAssertEqual(Engine.backend.dtype, .bfloat16)
        let y2 = block.forward(x, context: ctx)
        XCTAssertLessThan(relativeError(y2.data, y1.data), 2e-2)
        XCTAssertNotEqual(y1.data, y2.data, "the bf16 path must really round operands")
    }

    func testBackendChoiceResolution() throws {
        XCTAssertEqual(BackendChoice.fp32.resolved, .fp32)
        XCTAssertEqual(BackendChoice.bf16.resolved, .bf16)
        XCTAssertEqual(BackendChoice.auto.resolved, OneDNNBackend.hasNativeBF16 ? .bf16 : .fp32)
        XCTAssertEqual(try BackendChoice.fp32.makeBackend().dtype, .float32)
        XCTAssertEqual(try BackendChoice.bf16.makeBackend().dtype, .bfloat16)
        setenv("MUSE_BACKEND", "tf32", 1)
        defer { unsetenv("MUSE_BACKEND") }
        XCTAssertThrowsError(try BackendChoice.fromEnvironment()) { e in XCTAssertTrue("\(e)".contains("MUSE_BACKEND=tf32"), "\(e)") }
        setenv("MUSE_BACKEND", "BF16", 1)
        XCTAssertEqual(try BackendChoice.fromEnvironment(), .bf16)
    }
}

/// Mixed-precision training learns like fp32 (a short run; `muse-train
/// precision-check` runs thousands of steps).
final class MixedPrecisionTrainingTests: XCTestCase {
    func testShortRunsTrackFP32() throws {
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
