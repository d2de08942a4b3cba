import XCTest
import Foundation
import MuseCore
@testable import MuseEngine

/// Parallel loops and OpenBLAS's thread count: one process-wide setting that
/// loops started from different threads at once must not corrupt.
final class ParallelTests: XCTestCase {
    private var savedThreads = 1

    override func setUp() {
        savedThreads = Engine.blasThreads
        Engine.blasThreads = 2
    }

    override func tearDown() {
        Engine.blasThreads = savedThreads
    }

    func testChunksCoverRangeOnce() {
        var hits = [Int](repeating: 0, count: 1000)
        hits.withUnsafeMutableBufferPointer { h in
            let p = h.baseAddress!
            Parallel.forChunks(1000) { _, r in for i in r { p[i] += 1 } }
        }
        XCTAssertEqual(hits, [Int](repeating: 1, count: 1000))
    }

    /// Overlapping loops, in the order that broke the old save/restore per
    /// loop: A starts, B starts, A ends while B runs, B ends.
    func testOverlappingLoopsKeepOneThreadUntilTheLastEnds() {
        XCTAssertEqual(BLASThreads.current, 2)
        BLASThreads.enterLoop()                        // A
        XCTAssertEqual(BLASThreads.current, 1)
        BLASThreads.enterLoop()                        // B (would have saved A's 1)
        BLASThreads.leaveLoop()                        // A ends
        XCTAssertEqual(BLASThreads.current, 1, "B still runs: OpenBLAS must stay single-threaded")
        XCTAssertEqual(Engine.blasThreads, 2, "the count outside loops is still 2")
        Engine.blasThreads = 3                         // set while a loop runs: applied at the end
        XCTAssertEqual(BLASThreads.current, 1)
        BLASThreads.leaveLoop()                        // B ends
        XCTAssertEqual(BLASThreads.current, 3, "the last loop to end restores the configured count")
        XCTAssertEqual(Engine.blasThreads, 3)
    }

    /// Many real loops from two threads at once: inside every body OpenBLAS
    /// runs 1 thread and nested loops run serially; afterwards the count is back.
    func testConcurrentLoopsFromTwoThreads() {
        guard Engine.workers > 1 else { return }   // one core: loops never go parallel
        let lock = NSLock()
        var badThreads = 0, badNesting = 0, bodies = 0
        let group = DispatchGroup()
        for _ in 0..<2 {
            group.enter()
            Thread.detachNewThread {
                for _ in 0..<200 {
                    Parallel.forEach(4) { _ in
                        let threads = BLASThreads.current
                        let nested = Parallel.chunkCount(1000)
                        var sum = 0
                        for i in 0..<2000 { sum &+= i }   // a little work so loops overlap
                        lock.lock()
                        if threads != 1 { badThreads += 1 }
                        if nested != 1 || !Parallel.isActive { badNesting += 1 }
                        bodies += sum > 0 ? 1 : 0
                        lock.unlock()
                    }
                }
                group.leave()
            }
        }
        group.wait()
        XCTAssertEqual(bodies, 2 * 200 * 4)
        XCTAssertEqual(badThreads, 0, "bodies that saw OpenBLAS with more than 1 thread")
        XCTAssertEqual(badNesting, 0, "bodies where a nested loop would have gone parallel")
        XCTAssertEqual(BLASThreads.current, 2, "OpenBLAS's thread count after all loops")
        XCTAssertFalse(Parallel.isActive)
        XCTAssertEqual(Parallel.chunkCount(1000), min(Engine.workers, 1000))
    }

    /// A loop body on one thread does not make another thread's loops serial.
    func testNestingIsPerThread() {
        guard Engine.workers > 1 else { return }
        let inside = DispatchSemaphore(value: 0), done = DispatchSemaphore(value: 0)
        var chunksElsewhere = 0
        Thread.detachNewThread {
            inside.wait()
            chunksElsewhere = Parallel.chunkCount(1000)
            done.signal()
        }
        Parallel.forChunks(2) { c, _ in
            if c == 0 {
                XCTAssertEqual(Parallel.chunkCount(1000), 1)
                inside.signal()
                done.wait()
            }
        }
        XCTAssertEqual(chunksElsewhere, min(Engine.workers, 1000))
    }
}
