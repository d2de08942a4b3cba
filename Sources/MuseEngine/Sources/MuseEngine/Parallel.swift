import Foundation

/// Parallel loops over the cores. Work is split into at most `Engine.workers`
/// contiguous chunks (fixed boundaries, so reductions are deterministic).
/// OpenBLAS runs single-threaded while any parallel loop runs (no
/// oversubscription; `BLASThreads` restores its count after the last one),
/// and a loop started inside another loop's body runs serially on that
/// thread. Loops started from different threads at once are independent.
public enum Parallel {
    /// Per-thread nesting depth: how many loop bodies the current thread is inside.
    private static let depthKey: pthread_key_t = {
        var key = pthread_key_t()
        let status = pthread_key_create(&key, nil)
        precondition(status == 0, "Parallel: pthread_key_create failed (\(status))")
        return key
    }()

    private static var depth: Int {
        get { Int(bitPattern: pthread_getspecific(depthKey)) }
        set { pthread_setspecific(depthKey, UnsafeRawPointer(bitPattern: newValue)) }
    }

    /// True while the current thread runs the body of a parallel loop (GEMMs
    /// then stay single-threaded and nested loops run serially).
    public static var isActive: Bool { depth > 0 }

    /// Number of chunks `forChunks` would use for `count` items on this thread.
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
        BLASThreads.enterLoop()
        defer { BLASThreads.leaveLoop() }
        DispatchQueue.concurrentPerform(iterations: chunks) { c in
            let lo = count * c / chunks, hi = count * (c + 1) / chunks
            guard hi > lo else { return }
            // Marks whichever thread runs this chunk (a worker or the caller).
            let outer = depth
            depth = outer + 1
            defer { depth = outer }
            body(c, lo..<hi)
        }
    }

    /// Runs `body(i)` for every `i` in `0..<count`, chunked as `forChunks`.
    public static func forEach(_ count: Int, minPerChunk: Int = 1, _ body: (Int) -> Void) {
        forChunks(count, minPerChunk: minPerChunk) { _, r in for i in r { body(i) } }
    }

    /// Elements per chunk below which elementwise loops stay on one core.
    public static let elementwiseGrain = 1 << 15
}
