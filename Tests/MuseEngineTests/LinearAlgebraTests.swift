import XCTest
import MuseCore
@testable import MuseEngine

final class LinearAlgebraTests: XCTestCase {
    func testGemmAllTransposesMatchNaive() {
        var rng = SeededRNG(seed: 1)
        let m = 7, n = 5, k = 9
        let a = randn([m, k], &rng), b = randn([k, n], &rng)
        let ref = naiveMatmul(a.data, b.data, m: m, n: n, k: k)
        for tA in [false, true] { for tB in [false, true] {
            let A = tA ? transpose(a.data, m, k) : a.data
            let B = tB ? transpose(b.data, k, n) : b.data
            var c = [Float](repeating: 1, count: m * n)
            A.withUnsafeBufferPointer { ap in B.withUnsafeBufferPointer { bp in c.withUnsafeMutableBufferPointer { cp in
                fp32Reference.matmul(transA: tA, transB: tB, m: m, n: n, k: k, alpha: 2, a: ap.baseAddress!, b: bp.baseAddress!, beta: 0.5, c: cp.baseAddress!)
            }}}
            for i in 0..<(m * n) { XCTAssertEqual(c[i], 2 * ref[i] + 0.5, accuracy: 1e-4, "tA \(tA) tB \(tB)") }
        } }
    }

    func testGemmBatchedMatchesNaive() {
        var rng = SeededRNG(seed: 2)
        let count = 5, m = 4, n = 3, k = 6
        let a = randn([count, m, k], &rng), b = randn([count, k, n], &rng)
        var c = [Float](repeating: 0, count: count * m * n)
        a.data.withUnsafeBufferPointer { ap in b.data.withUnsafeBufferPointer { bp in c.withUnsafeMutableBufferPointer { cp in
            fp32Reference.gemmBatched(count: count, transA: false, transB: false, m: m, n: n, k: k, alpha: 1,
                                      a: ap.baseAddress!, lda: k, b: bp.baseAddress!, ldb: n, beta: 0, c: cp.baseAddress!, ldc: n,
                                      offsets: { ($0 * m * k, $0 * k * n, $0 * m * n) })
        }}}
        for i in 0..<count {
            let ref = naiveMatmul(Array(a.data[(i * m * k)..<((i + 1) * m * k)]), Array(b.data[(i * k * n)..<((i + 1) * k * n)]), m: m, n: n, k: k)
            for j in 0..<(m * n) { XCTAssertEqual(c[i * m * n + j], ref[j], accuracy: 1e-4) }
        }
    }

    func testTensorBasics() {
        var t = Tensor(zeros: [2, 3])
        t[1, 2] = 5
        XCTAssertEqual(t.data[5], 5)
        XCTAssertEqual(t.reshaped([3, 2]).shape, [3, 2])
        XCTAssertEqual(t.rows, 2)
        XCTAssertEqual(t.dtype, .float32)
        let u = t + t
        XCTAssertEqual(u.data[5], 10)
    }
}

final class VectorMathTests: XCTestCase {
    func testVectorExpMatchesLibm() {
        var worst: Double = 0
        var x: Float = -87
        while x < 88 {
            let ref = Foundation.exp(Double(x))
            worst = max(worst, abs(Double(expf1(x)) - ref) / ref)
            x += 0.0137
        }
        XCTAssertLessThan(worst, 3e-7)
        XCTAssertEqual(expf1(-Float.infinity), 0)
        XCTAssertEqual(expf1(-100), 0)
        XCTAssertEqual(expf1(0), 1)
    }
}

final class BLASSetupTests: XCTestCase {
    /// On an AVX-512 CPU, OpenBLAS must not run its generic SSE3 kernels.
    func testOptimizedKernelsSelected() {
        _ = OpenBLASBackend()   // creating an OpenBLAS backend runs the kernel selection
        if BLASSetup.cpuFlags().contains("avx512f") && ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] == nil {
            XCTAssertNotEqual(BLASSetup.coreName.lowercased(), "prescott", BLASSetup.note)
        }
    }
}

extension BLASSetupTests {
    /// Which kernel sets count as slower than what a CPU can run.
    func testBetterKernelSets() {
        let avx2: Set<String> = ["sse3", "avx", "avx2", "fma"]
        let avx512 = avx2.union(["avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512cd"])
        XCTAssertEqual(BLASSetup.betterCore(than: "Prescott", flags: avx512), "SkylakeX")
        XCTAssertEqual(BLASSetup.betterCore(than: "Prescott", flags: avx2), "Haswell")
        XCTAssertNil(BLASSetup.betterCore(than: "Prescott", flags: ["sse3"]))
        XCTAssertEqual(BLASSetup.betterCore(than: "Haswell", flags: avx512), "SkylakeX")
        XCTAssertEqual(BLASSetup.betterCore(than: "Zen", flags: avx512), "SkylakeX")
        XCTAssertNil(BLASSetup.betterCore(than: "Haswell", flags: avx2))
        XCTAssertNil(BLASSetup.betterCore(than: "Haswell", flags: avx2.union(["avx512f"])), "SkylakeX kernels need more than AVX-512 F")
        XCTAssertNil(BLASSetup.betterCore(than: "SkylakeX", flags: avx512))
        XCTAssertNil(BLASSetup.betterCore(than: "Cooperlake", flags: avx512))
    }

    /// The warning appears exactly when the user's OPENBLAS_CORETYPE holds back a
    /// faster set (this test runs under whatever the environment sets).
    func testWarningOnlyForASlowerUserChoice() {
        _ = OpenBLASBackend()
        let userSet = ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] != nil
        let slower = BLASSetup.betterCore(than: BLASSetup.coreName, flags: BLASSetup.cpuFlags()) != nil
        XCTAssertEqual(BLASSetup.warning != nil, userSet && slower, BLASSetup.note)
    }
}

final class AllocatorSetupTests: XCTestCase {
    /// glibc accepts the engine's malloc settings (mallopt refuses an mmap threshold
    /// above its 32 MiB cap, which would silently keep the page-fault churn).
    func testMallocSettingsAccepted() {
        _ = OpenBLASBackend()   // creating a backend applies them
        XCTAssertTrue(AllocatorSetup.userSetTunables(["GLIBC_TUNABLES": "glibc.malloc.trim_threshold=1"]))
        XCTAssertTrue(AllocatorSetup.userSetTunables(["MALLOC_MMAP_THRESHOLD_": "65536"]))
        XCTAssertFalse(AllocatorSetup.userSetTunables(["GLIBC_TUNABLES": "glibc.pthread.rseq=0", "HOME": "/root"]))
        let userSet = AllocatorSetup.userSetTunables(ProcessInfo.processInfo.environment)
        XCTAssertEqual(AllocatorSetup.note, userSet ? "glibc malloc as the user set it" : "glibc malloc: mmap above 32 MiB, keeps up to 1 GiB freed")
    }
}
