import Foundation

/// What a `muse-serve` instance serves and its limits (the command's options).
public struct ServeSettings: Sendable {
    /// Only the pipelines (`*.yaml`) directly in this folder run.
    public var pipelinesFolder: URL
    /// Results, their JSON reports and uploads (under `uploads/`) are written here;
    /// no request can name a file outside it.
    public var outputFolder: URL
    /// Runs that may wait behind the running one; one more is refused with 503.
    public var queueCapacity: Int
    /// The largest uploaded PNG, in bytes (decoded size).
    public var maxUploadBytes: Int
    /// The largest uploaded image, in pixels (width x height).
    public var maxUploadPixels: Int
    /// Extra plugin folders or .so files (muse-run's --plugins).
    public var pluginPaths: [String]
    /// Finished jobs kept in memory for their status page (the oldest go first).
    public var finishedJobsKept: Int
    /// Host names this server answers to besides localhost, 127.0.0.1 and ::1 (the
    /// listening address and `--allow-host` names); see `SameOriginMiddleware`.
    public var allowedHosts: [String]
    /// New runs are refused (507) while the output folder and its uploads hold this many bytes or more.
    public var maxOutputBytes: Int
    /// Submissions checked at once (decoding uploads is CPU work); more are refused as busy.
    public var concurrentSubmissions: Int

    public init(pipelinesFolder: URL, outputFolder: URL, queueCapacity: Int = 4, maxUploadBytes: Int = 4 << 20,
                maxUploadPixels: Int = 1024 * 1024, pluginPaths: [String] = [], finishedJobsKept: Int = 100,
                allowedHosts: [String] = [], concurrentSubmissions: Int = 2, maxOutputBytes: Int = 2 << 30) {
        self.pipelinesFolder = pipelinesFolder.standardizedFileURL
        self.outputFolder = outputFolder.standardizedFileURL
        self.queueCapacity = queueCapacity
        self.maxUploadBytes = maxUploadBytes
        self.maxUploadPixels = maxUploadPixels
        self.pluginPaths = pluginPaths
        self.finishedJobsKept = finishedJobsKept
        self.allowedHosts = allowedHosts
        self.concurrentSubmissions = max(1, concurrentSubmissions)
        self.maxOutputBytes = maxOutputBytes
    }

    /// The largest upload limit the command accepts (the request limit stays far from overflow).
    public static let largestUpload = 256 << 20

    /// The largest request body: every upload base64-encoded (4/3) for up to four
    /// image or mask inputs, plus room for the text fields.
    public var maxRequestBytes: Int { maxUploadBytes * 4 / 3 * 4 + (256 << 10) }

    /// Where uploaded images are kept (content-addressed, so a rerun finds them).
    public var uploadsFolder: URL { outputFolder.appendingPathComponent("uploads", isDirectory: true) }
}
