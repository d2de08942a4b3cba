import Foundation
import CBLAS

/// Owner of OpenBLAS's thread count, which is one process-wide setting.
///
/// Parallel loops run single-threaded GEMMs on each worker (no
/// oversubscription), so OpenBLAS must use 1 thread while ANY loop runs and
/// get its configured count back when the LAST one ends. Loops that overlap
/// (started from different threads) are counted under a lock: the first to
/// start saves the count and sets 1, the last to end restores it. (Saving and
/// restoring per loop, as before, let the second loop save the 1 the first had
/// set and restore it for good, and let the first restore N threads while the
/// second still ran.) A GEMM issued outside every loop while another thread's
/// loop runs gets 1 thread: slower, never wrong.
enum BLASThreads {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var activeLoops = 0
    /// The count to restore when the last loop ends (valid while `activeLoops > 0`).
    nonisolated(unsafe) private static var saved = 1

    /// The thread count for GEMMs outside parallel loops.
    static var outsideLoops: Int {
        lock.lock(); defer { lock.unlock() }
        return activeLoops > 0 ? saved : Int(openblas_get_num_threads())
    }

    /// Sets the count for GEMMs outside parallel loops (applied now, or when the last running loop ends).
    static func setOutsideLoops(_ n: Int) {
        lock.lock(); defer { lock.unlock() }
        if activeLoops > 0 { saved = max(1, n) } else { openblas_set_num_threads(Int32(max(1, n))) }
    }

    /// OpenBLAS's setting right now (1 while any loop runs).
    static var current: Int { Int(openblas_get_num_threads()) }

    /// A parallel loop starts.
    static func enterLoop() {
        lock.lock(); defer { lock.unlock() }
        if activeLoops == 0 {
            saved = Int(openblas_get_num_threads())
            openblas_set_num_threads(1)
        }
        activeLoops += 1
    }

    /// A parallel loop ended.
    static func leaveLoop() {
        lock.lock(); defer { lock.unlock() }
        precondition(activeLoops > 0, "BLASThreads.leaveLoop without enterLoop")
        activeLoops -= 1
        if activeLoops == 0 { openblas_set_num_threads(Int32(saved)) }
    }
}
