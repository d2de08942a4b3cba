import Foundation
import MuseCore

/// What made an output image, stored in it as the PNG text chunk `muse:run` (JSON):
/// the pipeline file, the inputs given on the command line (others are the
/// pipeline's defaults), the config overrides, the run seed, the variant and the
/// output's name. `muse-run --from image.png` reads it back and runs it again;
/// `muse-serve` writes the same chunk and reruns its history from it.
public struct RunProvenance: Codable, Equatable {
    public static let keyword = "muse:run"
    public var version = 1
    public var pipeline: String
    public var inputs: [String: String]
    public var sets: [String]
    public var seed: UInt64
    public var variant: String?
    public var output: String?

    public init(pipeline: String, inputs: [String: String], sets: [String], seed: UInt64, variant: String?, output: String?) {
        self.pipeline = pipeline; self.inputs = inputs; self.sets = sets; self.seed = seed; self.variant = variant; self.output = output
    }

    public func json() throws -> String {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return String(decoding: try e.encode(self), as: UTF8.self)
    }

    /// The provenance of a run of `doc`: image and mask inputs are recorded as
    /// absolute paths, so a rerun works from any folder.
    public static func of(document doc: PipelineDocument, pipelinePath: String, overrides: PipelineOverrides, seed: UInt64,
                          variant: String?, output: String?) -> RunProvenance {
        var recorded = overrides.inputs
        for i in doc.inputs where i.type == .image || i.type == .mask {
            if let v = recorded[i.name] { recorded[i.name] = URL(fileURLWithPath: v).standardizedFileURL.path }
        }
        return RunProvenance(pipeline: URL(fileURLWithPath: pipelinePath).standardizedFileURL.path, inputs: recorded,
                             sets: overrides.sets, seed: seed, variant: variant, output: output)
    }

    /// The provenance of a PNG that muse-run wrote; a clear error for any other file.
    public static func read(_ url: URL) throws -> RunProvenance {
        let data: Data
        do { data = try Data(contentsOf: url) } catch { throw MuseError("\(url.path): cannot read (\(error.localizedDescription))") }
        guard let text = try PNGTextChunks.read(data, name: url.path)[keyword] else {
            throw MuseError("\(url.path): no '\(keyword)' text chunk; --from takes a PNG written by muse-run")
        }
        do {
            let p = try JSONDecoder().decode(RunProvenance.self, from: Data(text.utf8))
            guard p.version == 1 else { throw MuseError("version \(p.version) is not known to this muse-run") }
            return p
        } catch {
            throw MuseError("\(url.path): the '\(keyword)' text chunk is not valid run provenance (\(error))")
        }
    }
}
