import XCTest
import Foundation
import MuseCore
@testable import MuseEngine

/// The `MUSE_BACKEND` rule (`BackendChoice.decide`) on the four kinds of CPU
/// the project's machines have had, with oneDNN's ISA injected; expected
/// answers are written out, not recomputed from the code under test.
final class BackendChoiceTests: XCTestCase {
    /// The four CPU kinds seen, as oneDNN 2.6 reports them (`dnnl_get_effective_cpu_isa`).
    static let cpus: [(name: String, isa: UInt32, support: BF16Support, isaName: String)] = [
        ("AMD EPYC, AVX2 only", 0x7, .unavailable, "avx2 (no bf16)"),
        ("Xeon, AVX-512 without BF16", 0x67, .emulated, "avx512_core (bf16 emulated)"),
        ("Xeon, AVX512-BF16 without AMX (family 6 model 207)", 0xe7, .avx512BF16, "avx512_core_bf16"),
        ("Xeon with AMX", 0x3e7, .amx, "avx512_core_amx"),
    ]

    /// A comparison that fails the test if the rule calls it.
    static func mustNotMeasure() throws -> StartupComparison {
        XCTFail("the start-up comparison ran where the rule must not time anything")
        return StartupComparison(fp32Seconds: 1, bf16Seconds: 1)
    }

    func testISAClassification() {
        for cpu in Self.cpus {
            XCTAssertEqual(BF16Support(oneDNNISA: cpu.isa), cpu.support, cpu.name)
        }
        // The other values oneDNN 2.6 can report.
        XCTAssertEqual(BF16Support(oneDNNISA: 0x0), .unavailable)        // no SIMD ISA detected
        XCTAssertEqual(BF16Support(oneDNNISA: 0x3), .unavailable)        // avx
        XCTAssertEqual(BF16Support(oneDNNISA: 0x407), .unavailable)      // avx2_vnni (Alder Lake): still no bf16
        XCTAssertEqual(BF16Support(oneDNNISA: 0x27), .emulated)          // avx512_core (Skylake-SP)
    }

    func testAutoTakesFP32WithoutAMXAndTimesNothing() {
        let expected: [BF16Support: String] = [
            .unavailable: "auto: no AMX (oneDNN reports avx2 (no bf16)), where bf16 is slower than fp32",
            .emulated: "auto: no AMX (oneDNN reports avx512_core (bf16 emulated)), where bf16 is slower than fp32",
            .avx512BF16: "auto: no AMX (oneDNN reports avx512_core_bf16), where bf16 is slower than fp32",
        ]
        for cpu in Self.cpus where cpu.support != .amx {
            let d = BackendChoice.auto.decide(bf16: cpu.support, isaName: cpu.isaName, compare: Self.mustNotMeasure)
            XCTAssertEqual(d, BackendDecision(choice: .fp32, reason: expected[cpu.support]!), cpu.name)
        }
    }

    func testAutoOnAMXFollowsTheStartUpComparison() {
        var calls = 0
        // bf16 5x faster: bf16.
        var d = BackendChoice.auto.decide(bf16: .amx, isaName: "avx512_core_amx") {
            calls += 1
            return StartupComparison(fp32Seconds: 0.0035, bf16Seconds: 0.0007)
        }
        XCTAssertEqual(d.choice, .bf16)
        XCTAssertEqual(d.reason, "auto: AMX and bf16 5.0x faster (256x1024x1024 GEMM: bf16 0.70 ms, fp32 3.50 ms)")
        XCTAssertEqual(calls, 1)
        // bf16 slower (say, AMX present but oneDNN not using it well): fp32.
        d = BackendChoice.auto.decide(bf16: .amx, isaName: "avx512_core_amx") {
            StartupComparison(fp32Seconds: 0.0035, bf16Seconds: 0.0070)
        }
        XCTAssertEqual(d.choice, .fp32)
        XCTAssertEqual(d.reason, "auto: AMX, but bf16 only 0.50x of fp32's speed (256x1024x1024 GEMM: bf16 7.00 ms, fp32 3.50 ms; needs 1.2x)")
        // Ahead but within noise (1.1x < 1.2x): fp32.
        d = BackendChoice.auto.decide(bf16: .amx, isaName: "avx512_core_amx") {
            StartupComparison(fp32Seconds: 0.0011, bf16Seconds: 0.0010)
        }
        XCTAssertEqual(d.choice, .fp32)
        // The bf16 backend fails to start: fp32, with the error in the reason.
        d = BackendChoice.auto.decide(bf16: .amx, isaName: "avx512_core_amx") { throw MuseError("engine failed") }
        XCTAssertEqual(d, BackendDecision(choice: .fp32, reason: "auto: AMX, but the bf16 backend did not start (engine failed)"))
    }

    func testExplicitChoicesAreObeyedWhereTheyCanRun() {
        // Written out per CPU kind: (fp32 request, bf16 request).
        let expected: [BF16Support: (BackendChoice, BackendChoice)] = [
            .unavailable: (.fp32, .fp32), .emulated: (.fp32, .bf16), .avx512BF16: (.fp32, .bf16), .amx: (.fp32, .bf16),
        ]
        for cpu in Self.cpus {
            let f = BackendChoice.fp32.decide(bf16: cpu.support, isaName: cpu.isaName, compare: Self.mustNotMeasure)
            let b = BackendChoice.bf16.decide(bf16: cpu.support, isaName: cpu.isaName, compare: Self.mustNotMeasure)
            XCTAssertEqual(f, BackendDecision(choice: expected[cpu.support]!.0, reason: "MUSE_BACKEND=fp32"), cpu.name)
            XCTAssertEqual(b.choice, expected[cpu.support]!.1, cpu.name)
        }
        XCTAssertEqual(BackendChoice.bf16.decide(bf16: .unavailable, isaName: "avx2 (no bf16)", compare: Self.mustNotMeasure).reason,
                       "MUSE_BACKEND=bf16, but oneDNN has no bf16 on this CPU (avx2 (no bf16)); using fp32")
        XCTAssertEqual(BackendChoice.bf16.decide(bf16: .avx512BF16, isaName: "avx512_core_bf16", compare: Self.mustNotMeasure).reason,
                       "MUSE_BACKEND=bf16 (avx512_core_bf16, no AMX: expect it slower than fp32)")
    }

    func testEnvironmentParsing() throws {
        let saved = ProcessInfo.processInfo.environment["MUSE_BACKEND"]
        defer { if let saved { setenv("MUSE_BACKEND", saved, 1) } else { unsetenv("MUSE_BACKEND") } }
        unsetenv("MUSE_BACKEND")
        XCTAssertEqual(try BackendChoice.fromEnvironment(), .auto)
        setenv("MUSE_BACKEND", "BF16", 1)
        XCTAssertEqual(try BackendChoice.fromEnvironment(), .bf16)
        setenv("MUSE_BACKEND", "tf32", 1)
        XCTAssertThrowsError(try BackendChoice.fromEnvironment()) { e in XCTAssertTrue("\(e)".contains("MUSE_BACKEND=tf32"), "\(e)") }
    }

    /// The real backends behind the choices on this machine.
    func testMakeBackendOnThisCPU() throws {
        XCTAssertEqual(try BackendChoice.fp32.makeBackend().dtype, .float32)
        if let why = OneDNNBackend.unavailableReason {
            XCTAssertEqual(OneDNNBackend.bf16Support, .unavailable)
            XCTAssertThrowsError(try BackendChoice.bf16.makeBackend()) { e in XCTAssertTrue("\(e)".contains(why), "\(e)") }
            XCTAssertThrowsError(try StartupComparison.measure())
        } else {
            XCTAssertEqual(try BackendChoice.bf16.makeBackend().dtype, .bfloat16)
            let c = try StartupComparison.measure()
            XCTAssertTrue(c.fp32Seconds > 0 && c.fp32Seconds < 1 && c.bf16Seconds > 0 && c.bf16Seconds < 1, "\(c)")
        }
        // The process default is whatever the rule decided, and says why.
        XCTAssertEqual(Engine.backend.dtype, Engine.backendDecision.choice == .bf16 ? .bfloat16 : .float32)
        XCTAssertFalse(Engine.backendDecision.reason.isEmpty)
    }
}
