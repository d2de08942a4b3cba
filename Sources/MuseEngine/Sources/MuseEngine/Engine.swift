import Foundation
import MuseCore

/// Engine-wide defaults, fixed at start-up: the compute backend layers use
/// when none is passed to them, the OpenBLAS thread count, and the worker
/// count of parallel loops.
///
/// The backend is not a switch that code flips: each layer takes its backend
/// at `init` (`Linear(..., backend: b)`, default `Engine.backend`) and keeps
/// it, so two models on different backends can run side by side and a plugin
/// cannot change another's arithmetic.
public enum Engine {
    /// The start-up choice: `MUSE_BACKEND` under the rule of `BackendChoice.decide`
    /// (on an AMX CPU with `auto`, this runs the few-millisecond start-up comparison).
    public static let backendDecision: BackendDecision = {
        let bf16 = OneDNNBackend.bf16Support, isa = OneDNNBackend.isaName
        do {
            return try BackendChoice.fromEnvironment().decide(bf16: bf16, isaName: isa, compare: StartupComparison.measure)
        } catch {
            return BackendDecision(choice: .fp32, reason: "\(error); using fp32")
        }
    }()

    /// The process's default backend (`backendDecision`'s), created on first
    /// use, which also prints once on stderr which backend runs and why.
    public static let backend: ComputeBackend = {
        let decision = backendDecision
        var reason = decision.reason
        let backend: ComputeBackend
        do { backend = try decision.choice.makeBackend() } catch {
            backend = OpenBLASBackend()
            reason += "; the bf16 backend did not start (\(error)), using fp32"
        }
        FileHandle.standardError.write(Data("muse: compute backend \(backend.name) (\(reason))\n".utf8))
        if let warning = BLASSetup.warning { FileHandle.standardError.write(Data("muse: warning: \(warning)\n".utf8)) }
        return backend
    }()

    /// OpenBLAS threads used by GEMMs issued outside parallel loops. Defaults
    /// to the number of cores. Setting it while parallel loops run takes
    /// effect when the last of them ends (see `BLASThreads`).
    public static var blasThreads: Int {
        get { BLASThreads.outsideLoops }
        set { BLASThreads.setOutsideLoops(newValue) }
    }

    /// Workers of `Parallel` loops (one per core).
    public static let workers: Int = max(1, ProcessInfo.processInfo.activeProcessorCount)
}

/// Stops with a clear message naming the op and shapes. Used for programmer
/// errors inside hot ops (wrong shapes passed between layers). Active in every
/// build configuration, with its message: `fatalError` (unlike
/// `preconditionFailure`, which traps silently under `-O`) prints it in
/// release builds too.
@inline(__always)
func require(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String,
             file: StaticString = #fileID, line: UInt = #line) {
    if !condition() { fatalError("MuseEngine: " + message(), file: file, line: line) }
}
