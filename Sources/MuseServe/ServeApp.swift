import Foundation
import Hummingbird
import MuseCore
import MuseHost

/// muse-serve's routes over one pipeline folder, one job queue and one output folder.
///
///     GET  /                          the page
///     GET  /api/pipelines             every pipeline's form (inputs with docs, variants)
///     GET  /api/pipelines/NAME        one pipeline's form
///     POST /api/jobs                  queue a run (JSON, see `SubmitBody`): 202, or 503 when the queue is full
///     GET  /api/jobs/ID               a job's status (state, progress, result files)
///     GET  /api/jobs/ID/events        the same as server-sent events, until the job finishes
///     POST /api/jobs/ID/cancel        cancel a queued or running job
///     GET  /api/history               earlier runs (PNGs of the output folder with run provenance)
///     POST /api/history/FILE/rerun    queue the run that made FILE again
///     GET  /files/NAME                a file of the output folder (results, reports)
///     GET  /uploads/NAME              an uploaded image
///
/// Every refused request gets a 4xx (5xx for a server fault) with `{"error": message}`;
/// no handler lets an error escape. Requests another site makes through the user's
/// browser are refused first (`SameOriginMiddleware`).
public final class ServeApp: @unchecked Sendable {
    public let settings: ServeSettings
    public let catalog: PipelineCatalog
    public let requests: RunRequests
    public let queue: JobQueue
    let submissions: Gate

    /// - Parameter execute: how a job runs (default: a `PipelineExecutor`); tests may pass another.
    public init(settings: ServeSettings, execute: JobQueue.Execute? = nil) throws {
        self.settings = settings
        catalog = PipelineCatalog(folder: settings.pipelinesFolder)
        requests = RunRequests(catalog: catalog, settings: settings)
        submissions = Gate(limit: settings.concurrentSubmissions)
        try FileManager.default.createDirectory(at: settings.outputFolder, withIntermediateDirectories: true)
        if let execute {
            queue = JobQueue(capacity: settings.queueCapacity, keepFinished: settings.finishedJobsKept, execute: execute)
        } else {
            let executor = try PipelineExecutor(settings: settings)
            queue = JobQueue(capacity: settings.queueCapacity, keepFinished: settings.finishedJobsKept) { job, progress in
                try executor.run(job, progress: progress)
            }
        }
        queue.start()
    }

    public func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.add(middleware: SameOriginMiddleware(allowedHosts: settings.allowedHosts))
        router.add(middleware: UnknownRouteMiddleware())
        router.get("/") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"],
                     body: .init(byteBuffer: ByteBuffer(string: WebPage.html)))
        }
        router.get("/api/pipelines") { _, _ in self.handle { try Self.json(self.catalog.forms()) } }
        router.get("/api/pipelines/:name") { _, context in
            self.handle { try Self.json(try self.catalog.form(try context.parameters.require("name"))) }
        }
        router.post("/api/jobs") { request, _ in
            await self.handleAsync {
                // Checking a submission (base64, PNG decoding, hashing) is CPU work: a few at a time.
                guard self.submissions.enter() else {
                    throw ServeError.busy("busy: other runs are being submitted; try again in a moment")
                }
                defer { self.submissions.leave() }
                let buffer = try await request.body.collect(upTo: self.settings.maxRequestBytes)
                let body: SubmitBody
                do { body = try JSONDecoder().decode(SubmitBody.self, from: Data(buffer.readableBytesView)) } catch {
                    throw ServeError.badRequest("the request is not a valid run: \(Self.describe(error))")
                }
                let checked = try self.requests.check(body)
                try OutputFolder.checkRoom(self.settings)
                let job = try self.queue.submit { try checked.accept(settings: self.settings) }
                return try Self.json(job.snapshot(), status: .accepted)
            }
        }
        router.get("/api/jobs/:id") { _, context in
            self.handle { try Self.json(try self.job(context).snapshot()) }
        }
        router.get("/api/jobs/:id/events") { _, context in
            self.handle {
                let stream = try self.job(context).events()
                return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-store"],
                                body: ResponseBody { writer in
                                    let encoder = JSONEncoder()
                                    encoder.outputFormatting = [.sortedKeys]
                                    for await status in stream {
                                        let data = try encoder.encode(status)
                                        try await writer.write(ByteBuffer(string: "data: \(String(decoding: data, as: UTF8.self))\n\n"))
                                    }
                                    try await writer.finish(nil)
                                })
            }
        }
        router.post("/api/jobs/:id/cancel") { _, context in
            self.handle { try Self.json(try self.queue.cancel(try context.parameters.require("id"))) }
        }
        router.get("/api/history") { _, _ in
            self.handle { try Self.json(History.list(settings: self.settings, catalog: self.catalog)) }
        }
        router.post("/api/history/:file/rerun") { _, context in
            self.handle {
                try OutputFolder.checkRoom(self.settings)
                let job = try self.queue.submit(try self.requests.rerun(file: try context.parameters.require("file")))
                return try Self.json(job.snapshot(), status: .accepted)
            }
        }
        router.get("/files/:name") { _, context in
            self.handle { try Self.file(try History.outputFile(try context.parameters.require("name"), settings: self.settings)) }
        }
        router.get("/uploads/:name") { _, context in
            self.handle { try Self.file(try History.outputFile(try context.parameters.require("name"), settings: self.settings, inUploads: true)) }
        }
        return router
    }

    /// The application on `host:port` (`port` 0: any free port).
    public func application(host: String, port: Int, onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in })
        -> some ApplicationProtocol {
        Application(router: router(), configuration: .init(address: .hostname(host, port: port), serverName: "muse-serve"),
                    onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? port) })
    }

    // MARK: helpers

    private func job(_ context: BasicRequestContext) throws -> Job {
        let id = try context.parameters.require("id")
        guard let job = queue.job(id) else { throw ServeError.notFound("no job '\(id.prefix(80))' (finished jobs are kept for a while only)") }
        return job
    }

    private func handle(_ body: () throws -> Response) -> Response {
        do { return try body() } catch { return Self.errorResponse(error) }
    }

    private func handleAsync(_ body: () async throws -> Response) async -> Response {
        do { return try await body() } catch { return Self.errorResponse(error) }
    }

    static func errorResponse(_ error: Error) -> Response {
        let status: HTTPResponse.Status
        let message: String
        var headers: HTTPFields = [:]
        switch error {
        case let e as ServeError:
            status = HTTPResponse.Status(code: e.status); message = e.message
            if e.status == 503 { headers[.retryAfter] = "5" }
        case let e as HTTPResponseError:
            status = e.status
            message = e.status == .contentTooLarge ? "the request is too large" : "\(e.status.reasonPhrase)"
        default:
            status = .internalServerError; message = "\(error)"
        }
        headers[.contentType] = "application/json"
        let data = (try? JSONSerialization.data(withJSONObject: ["error": message])) ?? Data("{}".utf8)
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    static func json<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = try encoder.encode(value)
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    static func file(_ url: URL) throws -> Response {
        let data = try Data(contentsOf: url)
        let type: String
        switch url.pathExtension.lowercased() {
        case "png": type = "image/png"
        case "json": type = "application/json"
        case "txt": type = "text/plain; charset=utf-8"
        default: type = "application/octet-stream"
        }
        return Response(status: .ok, headers: [.contentType: type, .cacheControl: "no-store"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    static func describe(_ error: Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, _): return "'\(key.stringValue)' is missing"
        case DecodingError.typeMismatch(_, let c), DecodingError.valueNotFound(_, let c):
            return "'\(c.codingPath.map(\.stringValue).joined(separator: "."))' has the wrong type"
        case DecodingError.dataCorrupted(let c):
            return c.codingPath.isEmpty ? "the body is not JSON" : c.debugDescription
        default: return "\(error)"
        }
    }
}

/// At most `limit` holders at once; `enter` fails instead of waiting.
final class Gate: @unchecked Sendable {
    private let lock = NSLock()
    private var inside = 0
    let limit: Int
    init(limit: Int) { self.limit = limit }
    func enter() -> Bool {
        lock.lock(); defer { lock.unlock() }
        guard inside < limit else { return false }
        inside += 1
        return true
    }
    func leave() { lock.lock(); inside -= 1; lock.unlock() }
}
