import Foundation
import MuseCore
import MuseHost

/// Runs jobs on the queue's worker thread: loads the pipeline, runs it (or all
/// its variants side by side), and writes every output into the output folder
/// with the same `muse:run` provenance chunk `muse-run` writes, plus a JSON report.
///
/// Stages (and their weights) stay loaded between runs of the same pipeline: one
/// `StageCache` is kept for the pipeline run last, holding only the stages that run
/// used; switching pipelines drops it, so memory holds one run's stages at most. Only the worker thread calls
/// `run`, so nothing here is shared between threads.
public final class PipelineExecutor: @unchecked Sendable {
    public let settings: ServeSettings
    let registry = PluginRegistry()
    private var loadedPluginFiles: Set<String> = []
    private var cache: (pipeline: String, stages: StageCache)?

    public init(settings: ServeSettings) throws {
        self.settings = settings
        for folder in PluginRegistry.defaultFolders() { registry.loadFolder(folder) }
        for p in settings.pluginPaths {
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: p, isDirectory: &isDir), isDir.boolValue { registry.loadFolder(p) } else { try registry.load(p) }
        }
        try FileManager.default.createDirectory(at: settings.outputFolder, withIntermediateDirectories: true)
    }

    /// Stage instances created so far for the cached pipeline, and reused (for tests and the report).
    public var cacheCounts: (created: Int, reused: Int) { (cache?.stages.created ?? 0, cache?.stages.reused ?? 0) }

    public func run(_ job: Job, progress: ProgressReporter) throws -> (files: [ResultFile], seconds: Double) {
        let t0 = Date()
        let request = job.request
        let doc = try PipelineDocument.load(request.file)
        for p in doc.plugins {
            let url = URL(fileURLWithPath: p.value, relativeTo: doc.directory).standardizedFileURL
            guard !loadedPluginFiles.contains(url.path) else { continue }
            do { try registry.load(url.path) } catch { throw PipelineError(p.location, "\(error)") }
            loadedPluginFiles.insert(url.path)
        }
        let validator = PipelineValidator(registry: registry)
        if cache?.pipeline != request.file.path { cache = (request.file.path, StageCache()) }
        let stages = cache!.stages
        stages.beginTracking()
        defer { stages.dropUnused() }
        let stem = "\(Self.timestamp())-\(request.pipeline)-\(job.id)"
        var files: [ResultFile] = []

        if request.ab {
            // The file may have been edited since the run was queued.
            guard !doc.variants.isEmpty else { throw MuseError("\(request.file.lastPathComponent) has no variants any more: an A/B run needs them") }
            let outcome = try ABRun(document: doc, validator: validator, overrides: request.overrides, progress: progress,
                                    output: nil, stageCache: stages).run()
            let provenance = RunProvenance.of(document: doc, pipelinePath: request.file.path, overrides: request.overrides,
                                              seed: (outcome.report["seed"] as? UInt64) ?? 0, variant: nil, output: outcome.report["output"] as? String)
            let image = "\(stem).png"
            try ValueWriter.write(.image(outcome.grid), to: settings.outputFolder.appendingPathComponent(image),
                                  texts: [(RunProvenance.keyword, try provenance.json())])
            var report = outcome.report
            report["job"] = job.id
            report["image"] = image
            try writeReport(report, "\(stem).json")
            files = [ResultFile(name: image, kind: "image"), ResultFile(name: "\(stem).json", kind: "report")]
        } else {
            let resolved = try validator.resolve(doc, overrides: request.overrides, variant: request.variant)
            let result = try PipelineRunner(progress: progress, stageCache: stages).run(resolved)
            var outputs: [[String: Any]] = []
            for (name, value) in result.outputs where value.type != .tokenModel {
                let ext = ValueWriter.defaultExtension(value.type)
                let file = "\(stem)-\(Self.fileNamePart(name)).\(ext)"
                let provenance = RunProvenance.of(document: doc, pipelinePath: request.file.path, overrides: request.overrides,
                                                  seed: resolved.seed, variant: request.variant, output: name)
                try ValueWriter.write(value, to: settings.outputFolder.appendingPathComponent(file),
                                      texts: [(RunProvenance.keyword, try provenance.json())])
                files.append(ResultFile(name: file, kind: ext == "png" ? "image" : "data"))
                var o: [String: Any] = ["name": name, "type": value.type.rawValue, "summary": value.summary, "file": file]
                if case .text(let t) = value { o["text"] = t }
                if case .scalar(let x) = value { o["value"] = x }
                outputs.append(o)
            }
            let report: [String: Any] = [
                "job": job.id,
                "pipeline": request.file.path,
                "seed": resolved.seed,
                "variant": request.variant ?? NSNull(),
                "inputs": Dictionary(uniqueKeysWithValues: resolved.inputValues.map { ($0.key, $0.value.summary) }),
                "outputs": outputs,
                "timings": result.timings.map { ["stage": $0.stage, "kind": $0.kind, "setup_seconds": $0.setupSeconds,
                                                 "run_seconds": $0.runSeconds, "reused": $0.reused] },
                "total_seconds": Date().timeIntervalSince(t0),
            ]
            try writeReport(report, "\(stem).json")
            files.append(ResultFile(name: "\(stem).json", kind: "report"))
        }
        return (files, Date().timeIntervalSince(t0))
    }

    private func writeReport(_ report: [String: Any], _ name: String) throws {
        let json = try JSONSerialization.data(withJSONObject: report, options: [.prettyPrinted, .sortedKeys])
        try AtomicFile.write(json, to: settings.outputFolder.appendingPathComponent(name), what: "JSON report")
    }

    /// An output's name as part of a file name: characters `SafeName` refuses become `_`.
    static func fileNamePart(_ name: String) -> String {
        String(name.prefix(60).map { c -> Character in SafeName.check(String(c)) ? c : "_" })
    }

    /// UTC, sortable, safe in a file name: 20261207-031500.
    static func timestamp(_ date: Date = Date()) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyyMMdd-HHmmss"
        return f.string(from: date)
    }
}
