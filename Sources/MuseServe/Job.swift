import Foundation
import MuseCore
import MuseHost

/// A file a finished job wrote into the output folder.
public struct ResultFile: Codable, Equatable, Sendable {
    /// The file's name in the output folder (served under `/files/`).
    public var name: String
    /// `image` (shown on the page), `report` (the JSON report) or `data` (anything else).
    public var kind: String
}

/// Where a job stands, as `/api/jobs/ID` and its event stream report it.
public struct JobStatus: Codable, Equatable, Sendable {
    public enum State: String, Codable, Sendable { case queued, running, done, failed, cancelled }
    public var id: String
    public var pipeline: String
    public var seed: UInt64?
    public var variant: String?
    /// True for an A/B run (every variant side by side).
    public var ab: Bool
    public var state: State
    /// Runs ahead of this one while it is queued (0: next).
    public var position: Int?
    /// The stage reporting progress, its step and total (0 of 0 before any report).
    public var stage: String?
    public var step: Int
    public var total: Int
    /// Stages finished so far.
    public var stagesDone: Int
    /// Why the job failed (or was cancelled).
    public var message: String?
    public var files: [ResultFile]
    public var seconds: Double?
    public var finished: Bool { state == .done || state == .failed || state == .cancelled }
}

/// What a submitted run will do: a pipeline of the served folder with the inputs,
/// seed and variant the form gave (uploads already stored as files).
public struct JobRequest: @unchecked Sendable {
    public var pipeline: String
    public var file: URL
    public var overrides: PipelineOverrides
    public var variant: String?
    /// Every variant side by side (`ABRun`) instead of one run.
    public var ab: Bool
}

/// One run: its request, its status (thread-safe) and the listeners of its
/// event stream.
public final class Job: @unchecked Sendable {
    public let id: String
    public let request: JobRequest
    private let lock = NSLock()
    private var status: JobStatus
    private var cancelRequested = false
    private var listeners: [UUID: AsyncStream<JobStatus>.Continuation] = [:]

    init(id: String, request: JobRequest) {
        self.id = id
        self.request = request
        status = JobStatus(id: id, pipeline: request.pipeline, seed: request.overrides.seed, variant: request.variant, ab: request.ab,
                           state: .queued, position: nil, stage: nil, step: 0, total: 0, stagesDone: 0, message: nil, files: [], seconds: nil)
    }

    public func snapshot() -> JobStatus { lock.lock(); defer { lock.unlock() }; return status }

    public var isCancelRequested: Bool { lock.lock(); defer { lock.unlock() }; return cancelRequested }

    func requestCancel() { lock.lock(); cancelRequested = true; lock.unlock() }

    /// Changes the status and tells every listener; a finished job ends their streams.
    /// (Listeners are told under the lock, so each sees the changes in order.)
    func update(_ change: (inout JobStatus) -> Void) {
        lock.lock()
        change(&status)
        for l in listeners.values { l.yield(status) }
        var ended: [AsyncStream<JobStatus>.Continuation] = []
        if status.finished { ended = Array(listeners.values); listeners.removeAll() }
        lock.unlock()
        // Outside the lock: finishing runs the stream's onTermination, which takes it.
        for l in ended { l.finish() }
    }

    /// The job's status now and at every change until it finishes. Only the
    /// newest few changes wait for a slow reader, so memory stays bounded.
    public func events() -> AsyncStream<JobStatus> {
        AsyncStream(bufferingPolicy: .bufferingNewest(8)) { continuation in
            let key = UUID()
            lock.lock(); defer { lock.unlock() }
            continuation.yield(status)
            if status.finished { continuation.finish(); return }
            listeners[key] = continuation
            continuation.onTermination = { [weak self] _ in
                guard let self else { return }
                self.lock.lock(); self.listeners[key] = nil; self.lock.unlock()
            }
        }
    }
}

/// The progress reporter of a running job: stage steps go to its status (and so
/// to the page), and the cancel button reaches the stages through `isCancelled`.
final class JobProgress: ProgressReporter, @unchecked Sendable {
    let job: Job
    init(_ job: Job) { self.job = job }
    func update(stage: String, step: Int, total: Int, note: String) {
        job.update { $0.stage = stage; $0.step = step; $0.total = total }
    }
    func finish(stage: String) {
        job.update { $0.stagesDone += 1; if $0.stage == stage { $0.step = $0.total } }
    }
    var isCancelled: Bool { job.isCancelRequested }
}
