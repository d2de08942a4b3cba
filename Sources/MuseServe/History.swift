import Foundation
import MuseCore
import MuseHost

/// One earlier run, read back from a PNG of the output folder (its `muse:run` chunk).
public struct HistoryEntry: Codable, Equatable, Sendable {
    public var file: String
    /// The JSON report written with it, when there is one.
    public var report: String?
    /// The pipeline's name when it is one of the served folder's (then it can be rerun).
    public var pipeline: String?
    public var pipelineFile: String
    /// Inputs as given (uploaded images by their file name).
    public var inputs: [String: String]
    public var seed: UInt64
    public var variant: String?
    public var output: String?
    /// Seconds since 1970 of the file's last change.
    public var modified: Double
}

/// The run history: the output folder's PNGs that carry run provenance, newest first.
public enum History {
    public static func list(settings: ServeSettings, catalog: PipelineCatalog, limit: Int = 100) -> [HistoryEntry] {
        let fm = FileManager.default
        let names = ((try? fm.contentsOfDirectory(atPath: settings.outputFolder.path)) ?? []).filter { $0.hasSuffix(".png") && SafeName.check($0) }
        var dated: [(String, Double)] = names.compactMap { n in
            let attributes = try? fm.attributesOfItem(atPath: settings.outputFolder.appendingPathComponent(n).path)
            guard let d = attributes?[.modificationDate] as? Date else { return nil }
            return (n, d.timeIntervalSince1970)
        }
        dated.sort { $0.1 > $1.1 || ($0.1 == $1.1 && $0.0 > $1.0) }
        var out: [HistoryEntry] = []
        for (name, modified) in dated {
            guard out.count < limit else { break }
            guard let p = try? RunProvenance.read(settings.outputFolder.appendingPathComponent(name)) else { continue }
            let stem = String(name.dropLast(4))
            // A single run's outputs are <stem>-<output>.png next to <stem>.json.
            let reportStem = p.output.map { stem.hasSuffix("-\($0)") ? String(stem.dropLast($0.count + 1)) : stem } ?? stem
            let report = [reportStem, stem].map { "\($0).json" }.first { fm.fileExists(atPath: settings.outputFolder.appendingPathComponent($0).path) }
            var inputs = p.inputs
            for (k, v) in inputs where Uploads.isUpload(v, settings: settings) { inputs[k] = URL(fileURLWithPath: v).lastPathComponent }
            out.append(HistoryEntry(file: name, report: report, pipeline: catalog.name(ofFile: p.pipeline), pipelineFile: p.pipeline,
                                    inputs: inputs, seed: p.seed, variant: p.variant, output: p.output, modified: modified))
        }
        return out
    }

    /// A plain file (not a link) directly in the output folder, or in its uploads
    /// folder with `inUploads`; 400 for a name that is not a plain name, 404 otherwise.
    public static func outputFile(_ name: String, settings: ServeSettings, inUploads: Bool = false) throws -> URL {
        guard SafeName.check(name) else { throw ServeError.badRequest("'\(name.prefix(80))' is not a file name this server hands out") }
        let folder = inUploads ? settings.uploadsFolder : settings.outputFolder
        let url = folder.appendingPathComponent(name)
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir), !isDir.boolValue else {
            throw ServeError.notFound("no file '\(name)'")
        }
        // A link in the folder could point anywhere: only plain files are served.
        let type = (try? FileManager.default.attributesOfItem(atPath: url.path))?[.type] as? FileAttributeType
        guard type == .typeRegular else { throw ServeError.notFound("no file '\(name)'") }
        return url
    }
}
