import Foundation
import CBLAS

/// Parallel loops over both cores. Work is split into at most `Engine.workers`
/// contiguous chunks (fixed boundaries, so reductions are deterministic).
/// OpenBLAS runs single-threaded inside a parallel loop (no oversubscription)
/// and nested loops run serially.
public enum Parallel {
    nonisolated(unsafe) private static var depth = 0

    /// True while a parallel loop is running (GEMMs then stay single-threaded).
    public static var isActive: Bool { depth > 0 }

    /// Number of chunks `forChunks` would use for `count` items.
    public static func chunkCount(_ count: Int, minPerChunk: Int = 1) -> Int {
        if depth > 0 || count <= 0 { return 1 }
        return max(1, min(Engine.workers, count / max(1, minPerChunk)))
    }

    /// Runs `body(chunkIndex, range)` over `0..<count` split into contiguous chunks,
    /// in parallel. `minPerChunk`: smallest worthwhile chunk (below it, fewer chunks).
    public static func forChunks(_ count: Int, minPerChunk: Int = 1, _ body: (Int, Range<Int>) -> Void) {
        let chunks = chunkCount(count, minPerChunk: minPerChunk)
        if chunks <= 1 {
            if count > 0 { body(0, 0..<count) }
            return
        }
        let saved = openblas_get_num_threads()
        openblas_set_num_threads(1)
        depth += 1
        DispatchQueue.concurrentPerform(iterations: chunks) { c in
            let lo = count * c / chunks, hi = count * (c + 1) / chunks
            if hi > lo { body(c, lo..<hi) }
        }
        depth -= 1
        openblas_set_num_threads(saved)
    }

    /// Runs `body(i)` for every `i` in `0..<count`, chunked as `forChunks`.
    public static func forEach(_ count: Int, minPerChunk: Int = 1, _ body: (Int) -> Void) {
        forChunks(count, minPerChunk: minPerChunk) { _, r in for i in r { body(i) } }
    }

    /// Elements per chunk below which elementwise loops stay on one core.
    public static let elementwiseGrain = 1 << 15
}
