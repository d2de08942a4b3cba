import Foundation
import CBLAS
import MuseCore

/// Engine-wide settings: the compute backend every GEMM and convolution goes
/// through, the number of OpenBLAS threads, and the worker count of parallel loops.
public enum Engine {
    /// The backend behind every GEMM and convolution (the one seam). Default:
    /// chosen by `MUSE_BACKEND` (see `BackendChoice`); assign to switch.
    nonisolated(unsafe) public static var backend: ComputeBackend = defaultBackend()

    /// OpenBLAS threads used by GEMMs issued outside parallel loops.
    /// Defaults to the number of cores (set once on first use of the engine).
    public static var blasThreads: Int {
        get { Int(openblas_get_num_threads()) }
        set { openblas_set_num_threads(Int32(max(1, newValue))) }
    }

    /// Workers of `Parallel` loops (one per core).
    nonisolated(unsafe) public static var workers: Int = max(1, ProcessInfo.processInfo.activeProcessorCount)
}

/// Which compute backend to use. `MUSE_BACKEND=auto|fp32|bf16` picks it at
/// start-up; `auto` (the default) takes bf16 (oneDNN) where the CPU computes
/// bf16 natively (AMX tiles or AVX512-BF16) and the fp32 OpenBLAS reference
/// elsewhere, where oneDNN would only emulate bf16, more slowly than fp32.
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

    /// What `auto` resolves to on this CPU.
    public var resolved: BackendChoice {
        self == .auto ? (OneDNNBackend.hasNativeBF16 ? .bf16 : .fp32) : self
    }

    /// A new backend of this kind.
    public func makeBackend() throws -> ComputeBackend {
        resolved == .bf16 ? try OneDNNBackend() : OpenBLASBackend()
    }
}

extension Engine {
    /// The start-up backend: `MUSE_BACKEND`, or fp32 with a warning on stderr
    /// when the setting is invalid or oneDNN cannot start.
    static func defaultBackend() -> ComputeBackend {
        do { return try BackendChoice.fromEnvironment().makeBackend() } catch {
            FileHandle.standardError.write("muse: \(error); using the fp32 OpenBLAS backend\n".data(using: .utf8)!)
            return OpenBLASBackend()
        }
    }
}

/// Stops with a clear message naming the op and shapes. Used for programmer
/// errors inside hot ops (wrong shapes passed between layers).
@inline(__always)
func require(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String,
             file: StaticString = #fileID, line: UInt = #line) {
    if !condition() { preconditionFailure("MuseEngine: " + message(), file: file, line: line) }
}
