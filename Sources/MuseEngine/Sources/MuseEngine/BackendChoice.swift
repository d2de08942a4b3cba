import Foundation
import MuseCore

/// Which compute backend to use. `MUSE_BACKEND=auto|fp32|bf16` picks it at
/// start-up (`Engine.backendDecision`). `auto` (the default) takes bf16
/// (oneDNN) only where oneDNN reports AMX tiles AND a short start-up
/// comparison shows bf16 clearly ahead of fp32 OpenBLAS; everywhere else it
/// takes fp32. (Measured: with AVX512-BF16 but no AMX the bf16 backend ran at
/// 0.3-0.6x of fp32; with AVX-512 alone oneDNN emulates bf16, slower still;
/// below AVX-512 oneDNN 2.x has no bf16 at all.)
public enum BackendChoice: String, CaseIterable, Sendable {
    case auto, fp32, bf16

    /// The choice in `MUSE_BACKEND` (auto when unset); throws on an unknown value.
    public static func fromEnvironment() throws -> BackendChoice {
        guard let v = ProcessInfo.processInfo.environment["MUSE_BACKEND"], !v.isEmpty else { return .auto }
        guard let c = BackendChoice(rawValue: v.lowercased()) else {
            throw MuseError("MUSE_BACKEND=\(v) is not one of \(allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return c
    }

    /// A new backend of this kind (`auto` is not a kind: decide first, see `decide`).
    public func makeBackend() throws -> ComputeBackend {
        switch self {
        case .fp32: return OpenBLASBackend()
        case .bf16: return try OneDNNBackend()
        case .auto: return try decide(bf16: OneDNNBackend.bf16Support, isaName: OneDNNBackend.isaName,
                                      compare: StartupComparison.measure).choice.makeBackend()
        }
    }

    /// Speed-up bf16 must reach over fp32 in the start-up comparison for
    /// `auto` to take it: clearly ahead, so that timing noise in a few
    /// milliseconds of measurement cannot flip the default (bf16 also costs precision).
    public static let autoMinimumSpeedup = 1.2

    /// The choice rule (pure: the CPU's bf16 support and the timing are passed in).
    ///
    /// - Parameters:
    ///   - bf16: what oneDNN can do with bf16 on the CPU (`OneDNNBackend.bf16Support`).
    ///   - isaName: oneDNN's name for the CPU's instruction set, quoted in the reason.
    ///   - compare: times fp32 against bf16 at a representative shape; called
    ///     only for `auto` on an AMX CPU. A throw (oneDNN failed to start) means fp32.
    /// - Returns: `.fp32` or `.bf16` (never `.auto`) and why, in words for the tools to print.
    public func decide(bf16: BF16Support, isaName: String, compare: () throws -> StartupComparison) -> BackendDecision {
        switch self {
        case .fp32:
            return BackendDecision(choice: .fp32, reason: "MUSE_BACKEND=fp32")
        case .bf16:
            switch bf16 {
            case .unavailable:
                return BackendDecision(choice: .fp32, reason: "MUSE_BACKEND=bf16, but oneDNN has no bf16 on this CPU (\(isaName)); using fp32")
            case .emulated, .avx512BF16:
                return BackendDecision(choice: .bf16, reason: "MUSE_BACKEND=bf16 (\(isaName), no AMX: expect it slower than fp32)")
            case .amx:
                return BackendDecision(choice: .bf16, reason: "MUSE_BACKEND=bf16 (\(isaName))")
            }
        case .auto:
            guard bf16 == .amx else {
                return BackendDecision(choice: .fp32, reason: "auto: no AMX (oneDNN reports \(isaName)), where bf16 is slower than fp32")
            }
            let c: StartupComparison
            do { c = try compare() } catch {
                return BackendDecision(choice: .fp32, reason: "auto: AMX, but the bf16 backend did not start (\(error))")
            }
            let timing = String(format: "%@ GEMM: bf16 %.2f ms, fp32 %.2f ms", c.shape, c.bf16Seconds * 1e3, c.fp32Seconds * 1e3)
            if c.speedup >= BackendChoice.autoMinimumSpeedup {
                return BackendDecision(choice: .bf16, reason: String(format: "auto: AMX and bf16 %.1fx faster (%@)", c.speedup, timing))
            }
            return BackendDecision(choice: .fp32, reason: String(format: "auto: AMX, but bf16 only %.2fx of fp32's speed (%@; needs %.1fx)",
                                                                 c.speedup, timing, BackendChoice.autoMinimumSpeedup))
        }
    }
}

/// What oneDNN can do with bf16 on a CPU, from the instruction set it reports.
public enum BF16Support: String, CaseIterable, Sendable {
    /// Below AVX-512 (e.g. AVX2-only AMD EPYC): oneDNN 2.x has no bf16 primitives.
    case unavailable
    /// AVX-512 without BF16 instructions: oneDNN emulates bf16.
    case emulated
    /// AVX512-BF16 dot products, no AMX tiles.
    case avx512BF16
    /// AMX tiles (`avx512_core_amx`).
    case amx

    /// Classifies a `dnnl_cpu_isa_t` value (a bit set: each ISA includes the
    /// bits of those below it). oneDNN 2.6's values: avx2 0x7, avx2_vnni 0x407,
    /// avx512_core 0x27, avx512_core_vnni 0x67, avx512_core_bf16 0xe7,
    /// avx512_core_amx 0x3e7.
    public init(oneDNNISA isa: UInt32) {
        func has(_ bits: UInt32) -> Bool { isa & bits == bits }
        if has(0x3e7) { self = .amx }
        else if has(0xe7) { self = .avx512BF16 }
        else if has(0x27) { self = .emulated }
        else { self = .unavailable }
    }
}

/// The outcome of the choice rule: the backend kind and why.
public struct BackendDecision: Equatable, Sendable {
    /// `.fp32` or `.bf16`.
    public let choice: BackendChoice
    /// One line for the tools to print (which rule applied, with the timing when one ran).
    public let reason: String

    public init(choice: BackendChoice, reason: String) {
        self.choice = choice; self.reason = reason
    }
}

/// Start-up timing of fp32 OpenBLAS against bf16 oneDNN on one GEMM of a
/// representative shape: 256 rows through a 1024 -> 1024 linear layer
/// (`[256, 1024] x [1024, 1024]^T`, 0.54 GFLOP, a few milliseconds at most),
/// best of 3 after a warm-up each. The bf16 time includes the conversion of
/// operands to bf16, as every real call pays it.
public struct StartupComparison: Equatable, Sendable {
    public let fp32Seconds: Double
    public let bf16Seconds: Double
    /// The GEMM, as `m x n x k`.
    public let shape: String

    public init(fp32Seconds: Double, bf16Seconds: Double, shape: String = "256x1024x1024") {
        self.fp32Seconds = fp32Seconds; self.bf16Seconds = bf16Seconds; self.shape = shape
    }

    /// How many times faster bf16 ran than fp32.
    public var speedup: Double { fp32Seconds / bf16Seconds }

    /// Runs the comparison on this machine (throws when oneDNN has no bf16 here).
    public static func measure() throws -> StartupComparison {
        let bf16 = try OneDNNBackend(), fp32 = OpenBLASBackend()
        let m = 256, n = 1024, k = 1024
        let a = (0..<(m * k)).map { Float(($0 * 7919) % 2003) / 1001.5 - 1 }
        let b = (0..<(n * k)).map { Float(($0 * 104_729) % 4001) / 2000.5 - 1 }
        var c = [Float](repeating: 0, count: m * n)
        func best(_ backend: ComputeBackend) -> Double {
            var t = Double.infinity
            a.withUnsafeBufferPointer { ap in b.withUnsafeBufferPointer { bp in c.withUnsafeMutableBufferPointer { cp in
                for run in 0..<4 {
                    let t0 = DispatchTime.now().uptimeNanoseconds
                    backend.matmul(transB: true, m: m, n: n, k: k, a: ap.baseAddress!, b: bp.baseAddress!, c: cp.baseAddress!)
                    let dt = Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9
                    if run > 0 { t = min(t, dt) }   // run 0 warms up (primitive creation, pages)
                }
            }}}
            return t
        }
        return StartupComparison(fp32Seconds: best(fp32), bf16Seconds: best(bf16), shape: "\(m)x\(n)x\(k)")
    }
}
