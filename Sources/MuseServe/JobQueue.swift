import Foundation
import MuseCore

/// The one bounded queue every run goes through: one job runs at a time (two
/// cores: a second run would only slow the first), up to `capacity` wait behind
/// it, and a submission beyond that is refused with 503 ("busy, try again").
/// Jobs run on a worker thread of their own, never on the server's event loops.
public final class JobQueue: @unchecked Sendable {
    public typealias Execute = (Job, ProgressReporter) throws -> (files: [ResultFile], seconds: Double)

    public let capacity: Int
    private let keepFinished: Int
    private let execute: Execute
    private let condition = NSCondition()
    private var pending: [Job] = []
    private var running: Job?
    private var jobs: [String: Job] = [:]
    private var finishedOrder: [String] = []
    private var counter = 0
    private var worker: Thread?
    private var mostWaitingSoFar = 0
    /// The most runs ever waiting at once (never above `capacity`, or 1 when it is 0).
    public var mostWaiting: Int { condition.lock(); defer { condition.unlock() }; return mostWaitingSoFar }

    /// - Parameters:
    ///   - capacity: jobs that may wait behind the running one.
    ///   - keepFinished: finished jobs whose status stays queryable.
    ///   - execute: runs one job on the worker thread (progress and cancellation
    ///     through the reporter); throws to fail it, `CancelledError` to cancel it.
    public init(capacity: Int, keepFinished: Int = 100, execute: @escaping Execute) {
        self.capacity = max(0, capacity)
        self.keepFinished = max(1, keepFinished)
        self.execute = execute
    }

    /// Starts the worker thread (once).
    public func start() {
        condition.lock(); defer { condition.unlock() }
        guard worker == nil else { return }
        // The thread holds the queue for good: a server's queue lives as long as the process.
        let t = Thread { self.workLoop() }
        t.name = "muse-serve worker"
        t.stackSize = 16 << 20   // stages recurse little, but some keep large frames
        worker = t
        t.start()
    }

    /// Queues a run, or refuses it when `capacity` runs already wait (with capacity 0:
    /// whenever one runs). `accept` makes the run once there is room (it stores the
    /// uploads), so nothing is written for a refused submission.
    public func submit(_ accept: () throws -> JobRequest) throws -> Job {
        condition.lock(); defer { condition.unlock() }
        guard pending.count < capacity || (pending.isEmpty && running == nil) else {
            let ahead = pending.count + (running == nil ? 0 : 1)
            throw ServeError.busy("busy: \(ahead) run\(ahead == 1 ? " is" : "s are") already running or waiting; try again in a moment")
        }
        let request = try accept()
        counter += 1
        let id = String(format: "%d-%08x", counter, UInt32.random(in: 0...UInt32.max))
        let job = Job(id: id, request: request)
        jobs[id] = job
        pending.append(job)
        mostWaitingSoFar = max(mostWaitingSoFar, pending.count)
        let position = pending.count - 1
        job.update { $0.position = position }
        condition.signal()
        return job
    }

    public func submit(_ request: JobRequest) throws -> Job { try submit { request } }

    public func job(_ id: String) -> Job? {
        condition.lock(); defer { condition.unlock() }
        return jobs[id]
    }

    /// Runs waiting now (not counting the running one).
    public var waiting: Int { condition.lock(); defer { condition.unlock() }; return pending.count }

    /// Cancels a queued job at once, or asks a running one to stop (its stage
    /// stops at its next step); a finished job is a 409.
    @discardableResult
    public func cancel(_ id: String) throws -> JobStatus {
        condition.lock()
        guard let job = jobs[id] else { condition.unlock(); throw ServeError.notFound("no job '\(id)'") }
        if let i = pending.firstIndex(where: { $0 === job }) {
            pending.remove(at: i)
            remember(job)
            // Under the queue's lock, so positions never arrive out of order.
            for (k, j) in pending.enumerated() { j.update { $0.position = k } }
            condition.unlock()
            job.update { $0.state = .cancelled; $0.position = nil; $0.message = "cancelled before it started" }
            return job.snapshot()
        }
        condition.unlock()
        guard !job.snapshot().finished else { throw ServeError.conflict("job \(id) has already finished (\(job.snapshot().state.rawValue))") }
        job.requestCancel()
        return job.snapshot()
    }

    private func workLoop() {
        while true {
            condition.lock()
            while pending.isEmpty { condition.wait() }
            let job = pending.removeFirst()
            running = job
            job.update { $0.state = .running; $0.position = nil }
            for (k, j) in pending.enumerated() { j.update { $0.position = k } }
            condition.unlock()

            let t0 = Date()
            do {
                let out = try execute(job, JobProgress(job))
                job.update { $0.state = .done; $0.files = out.files; $0.seconds = out.seconds }
            } catch is CancelledError {
                job.update { $0.state = .cancelled; $0.message = "cancelled"; $0.seconds = Date().timeIntervalSince(t0) }
            } catch {
                job.update { $0.state = .failed; $0.message = "\(error)"; $0.seconds = Date().timeIntervalSince(t0) }
            }
            condition.lock()
            running = nil
            remember(job)
            condition.unlock()
        }
    }

    /// Keeps the newest `keepFinished` finished jobs queryable (caller holds the lock).
    private func remember(_ job: Job) {
        finishedOrder.append(job.id)
        while finishedOrder.count > keepFinished { jobs[finishedOrder.removeFirst()] = nil }
    }
}
