import Foundation
import MuseCore
import MuseHost

/// One pipeline input as the page's form shows it.
public struct FormInput: Codable, Equatable, Sendable {
    public var name: String
    /// `text`, `scalar`, `image` or `mask` (the pipeline's declared type).
    public var type: String
    public var defaultValue: String?
    public var doc: String
    /// The pipeline declares it `optional: true`: it may be left empty.
    public var optional: Bool
    public var required: Bool { defaultValue == nil && !optional }

    enum CodingKeys: String, CodingKey { case name, type, defaultValue = "default", doc, optional, required }
    public init(name: String, type: String, defaultValue: String?, doc: String, optional: Bool = false) {
        self.name = name; self.type = type; self.defaultValue = defaultValue; self.doc = doc; self.optional = optional
    }
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name); type = try c.decode(String.self, forKey: .type)
        defaultValue = try c.decodeIfPresent(String.self, forKey: .defaultValue); doc = try c.decode(String.self, forKey: .doc)
        optional = try c.decodeIfPresent(Bool.self, forKey: .optional) ?? false
    }
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name); try c.encode(type, forKey: .type)
        try c.encode(defaultValue, forKey: .defaultValue); try c.encode(doc, forKey: .doc)
        try c.encode(optional, forKey: .optional); try c.encode(required, forKey: .required)
    }
}

/// A pipeline of the served folder, described for the page: its form is built
/// from the inputs the YAML file declares, with their docs. The run seed has a
/// field of its own (a `seed` input is not repeated among `inputs`).
public struct PipelineForm: Codable, Equatable, Sendable {
    public var name: String
    public var description: String
    public var inputs: [FormInput]
    public var variants: [String]
    public var outputs: [String]
    /// The pipeline's declared default seed (its `seed` input), else 0.
    public var defaultSeed: String
    /// Why the file cannot run (it does not parse); nil when it parses.
    public var error: String?
}

/// The pipelines of the served folder: `*.yaml` files directly in it. A request
/// names a pipeline by its file's stem; nothing else can be run.
public struct PipelineCatalog: Sendable {
    public let folder: URL
    public init(folder: URL) { self.folder = folder.standardizedFileURL }

    /// Stems of the folder's pipeline files, sorted.
    public func names() -> [String] {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        return files.filter { ($0.hasSuffix(".yaml") || $0.hasSuffix(".yml")) && SafeName.check($0) }
            .map { URL(fileURLWithPath: $0).deletingPathExtension().lastPathComponent }
            .sorted()
    }

    /// The file of a listed pipeline; 404 for any other name.
    public func file(_ name: String) throws -> URL {
        guard SafeName.check(name), names().contains(name) else {
            throw ServeError.notFound("no pipeline '\(name.prefix(80))' in \(folder.lastPathComponent)/\(RunRequests.suggestion(name, names()))")
        }
        for ext in ["yaml", "yml"] {
            let u = folder.appendingPathComponent("\(name).\(ext)")
            if FileManager.default.fileExists(atPath: u.path) { return u }
        }
        throw ServeError.notFound("no pipeline '\(name)'")
    }

    /// The listed pipeline whose file is `path` (a rerun's recorded pipeline), if any.
    public func name(ofFile path: String) -> String? {
        let want = URL(fileURLWithPath: path).standardizedFileURL.resolvingSymlinksInPath().path
        return names().first { n in (try? file(n))?.resolvingSymlinksInPath().path == want }
    }

    public func form(_ name: String) throws -> PipelineForm {
        let url = try file(name)
        do {
            let doc = try PipelineDocument.load(url)
            let seedDefault = doc.inputs.first { $0.name == "seed" }?.defaultValue?.text ?? "0"
            return PipelineForm(name: name, description: doc.description,
                                inputs: doc.inputs.filter { $0.name != "seed" }.map {
                                    FormInput(name: $0.name, type: $0.type.rawValue, defaultValue: $0.defaultValue?.text, doc: $0.doc, optional: $0.optional)
                                },
                                variants: doc.variants.map(\.name), outputs: doc.outputs.map(\.name), defaultSeed: seedDefault, error: nil)
        } catch {
            return PipelineForm(name: name, description: "", inputs: [], variants: [], outputs: [], defaultSeed: "0", error: "\(error)")
        }
    }

    public func forms() -> [PipelineForm] { names().compactMap { try? form($0) } }
}
