import Foundation
import CBLAS
import MuseCore

/// Engine-wide settings: the compute backend every GEMM and convolution goes
/// through, the number of OpenBLAS threads, and the worker count of parallel loops.
public enum Engine {
    /// The backend behind every GEMM and convolution (the one seam). Default:
    /// the fp32 OpenBLAS reference. A bf16 backend is installed by assigning here.
    nonisolated(unsafe) public static var backend: ComputeBackend = OpenBLASBackend()

    /// OpenBLAS threads used by GEMMs issued outside parallel loops.
    /// Defaults to the number of cores (set once on first use of the engine).
    public static var blasThreads: Int {
        get { Int(openblas_get_num_threads()) }
        set { openblas_set_num_threads(Int32(max(1, newValue))) }
    }

    /// Workers of `Parallel` loops (one per core).
    nonisolated(unsafe) public static var workers: Int = max(1, ProcessInfo.processInfo.activeProcessorCount)
}

/// Stops with a clear message naming the op and shapes. Used for programmer
/// errors inside hot ops (wrong shapes passed between layers).
@inline(__always)
func require(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String,
             file: StaticString = #fileID, line: UInt = #line) {
    if !condition() { preconditionFailure("MuseEngine: " + message(), file: file, line: line) }
}
