import Foundation
import MuseCore
import MuseHost

/// The body of `POST /api/jobs`:
/// `{"pipeline": "txt2img-64", "inputs": {"prompt": "...", "image": "data:image/png;base64,..."},
///   "seed": 3, "variant": "halton", "ab": false}`.
/// Image and mask inputs are base64 PNG data (the page sends the uploaded file and
/// the painted mask so); text and scalar inputs are strings. `ab: true` runs every
/// variant side by side; a pipeline with variants otherwise needs `variant`.
public struct SubmitBody: Decodable {
    public var pipeline: String
    public var inputs: [String: String]?
    public var seed: UInt64?
    public var variant: String?
    public var ab: Bool?

    enum CodingKeys: String, CodingKey { case pipeline, inputs, seed, variant, ab }
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        pipeline = try c.decode(String.self, forKey: .pipeline)
        inputs = try c.decodeIfPresent([String: String].self, forKey: .inputs)
        variant = try c.decodeIfPresent(String.self, forKey: .variant)
        ab = try c.decodeIfPresent(Bool.self, forKey: .ab)
        // The seed as a number or as the text of the form's field.
        if let n = try? c.decodeIfPresent(UInt64.self, forKey: .seed) { seed = n }
        else if let s = try? c.decodeIfPresent(String.self, forKey: .seed) {
            let t = s.trimmingCharacters(in: .whitespaces)
            if t.isEmpty { seed = nil } else {
                guard let n = UInt64(t) else {
                    throw DecodingError.dataCorruptedError(forKey: .seed, in: c, debugDescription: "the seed must be a whole number from 0 to 2^63, got '\(s)'")
                }
                seed = n
            }
        } else if c.contains(.seed), (try? c.decodeNil(forKey: .seed)) != true {
            throw DecodingError.dataCorruptedError(forKey: .seed, in: c, debugDescription: "the seed must be a whole number from 0 to 2^63")
        }
    }
}

/// Turns form submissions and history entries into job requests, checking
/// everything a request names: only pipelines of the served folder, only their
/// declared inputs, uploads within the limits, files only inside the output folder.
public struct RunRequests {
    public let catalog: PipelineCatalog
    public let settings: ServeSettings
    /// The longest text input accepted (characters); the stages refuse what they cannot take.
    public static let maxTextCharacters = 10_000

    public init(catalog: PipelineCatalog, settings: ServeSettings) { self.catalog = catalog; self.settings = settings }

    func document(_ name: String) throws -> (URL, PipelineDocument) {
        let url = try catalog.file(name)
        do { return (url, try PipelineDocument.load(url)) } catch {
            throw ServeError.badRequest("pipeline '\(name)' does not load: \(error)")
        }
    }

    /// A checked submission: the run, and the uploads to store once the queue takes it.
    public struct Checked {
        public var request: JobRequest
        public var uploads: [Uploads.Checked]
        /// Stores the uploads (call it once the run is accepted) and returns the run.
        public func accept(settings: ServeSettings) throws -> JobRequest {
            for u in uploads { try u.store(settings: settings) }
            return request
        }
    }

    /// Checks a form submission completely, writing nothing.
    public func check(_ body: SubmitBody) throws -> Checked {
        let (url, doc) = try document(body.pipeline)
        var overrides = PipelineOverrides()
        var uploads: [Uploads.Checked] = []
        for (name, value) in (body.inputs ?? [:]).sorted(by: { $0.key < $1.key }) {
            guard let decl = doc.inputs.first(where: { $0.name == name }) else {
                throw ServeError.badRequest("pipeline '\(body.pipeline)' has no input '\(name.prefix(80))'\(Self.suggestion(name, doc.inputs.map(\.name)))")
            }
            switch decl.type {
            case .image, .mask:
                if value.isEmpty { continue }   // not given: the pipeline's default
                let upload = try Uploads.check(value, input: name, settings: settings)
                uploads.append(upload)
                overrides.inputs[name] = upload.url.path
            case .scalar:
                if value.trimmingCharacters(in: .whitespaces).isEmpty { continue }
                guard let x = Double(value.trimmingCharacters(in: .whitespaces)), x.isFinite else {
                    throw ServeError.badRequest("input '\(name)' must be a number, got '\(value.prefix(40))'")
                }
                overrides.inputs[name] = value
            default:
                // Left empty: not given (then a required input is missing, below).
                if value.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty && decl.defaultValue == nil { continue }
                guard value.count <= Self.maxTextCharacters else {
                    throw ServeError.tooLarge("input '\(name)' is \(value.count) characters; the limit is \(Self.maxTextCharacters)")
                }
                overrides.inputs[name] = value
            }
        }
        for decl in doc.inputs where decl.defaultValue == nil && !decl.optional && overrides.inputs[decl.name] == nil && !(decl.name == "seed" && body.seed != nil) {
            throw ServeError.badRequest("input '\(decl.name)' is required: \(decl.doc)")
        }
        if let seed = body.seed {
            guard seed < 1 << 63 else { throw ServeError.badRequest("the seed must be below 2^63") }
            overrides.seed = seed
            // The pipeline's own `seed` input (if it declares one) says the same, so
            // the report and the recorded inputs show the seed that ran.
            if doc.inputs.contains(where: { $0.name == "seed" }) { overrides.inputs["seed"] = String(seed) }
        }
        let variant = (body.variant?.isEmpty ?? true) ? nil : body.variant
        let ab = body.ab ?? false
        if let variant, !doc.variants.contains(where: { $0.name == variant }) {
            throw ServeError.badRequest("pipeline '\(body.pipeline)' has no variant '\(variant.prefix(80))'\(Self.suggestion(variant, doc.variants.map(\.name)))")
        }
        if ab {
            guard !doc.variants.isEmpty else { throw ServeError.badRequest("pipeline '\(body.pipeline)' has no variants to compare side by side") }
            guard variant == nil else { throw ServeError.badRequest("an A/B run runs every variant: give either ab or variant, not both") }
        } else if variant == nil && !doc.variants.isEmpty {
            throw ServeError.badRequest("pipeline '\(body.pipeline)' has variants (\(doc.variants.map(\.name).joined(separator: ", "))): choose one, or ab for all side by side")
        }
        return Checked(request: JobRequest(pipeline: body.pipeline, file: url, overrides: overrides, variant: variant, ab: ab), uploads: uploads)
    }

    /// A did-you-mean for a name of sensible length (a megabyte-long name gets none).
    static func suggestion(_ name: String, _ among: [String]) -> String {
        name.utf8.count <= 200 ? didYouMean(name, among: among) : ""
    }

    /// The request that reruns what made `file` (a PNG of the output folder), from its
    /// `muse:run` chunk: the same pipeline, inputs, settings, seed and variant.
    public func rerun(file: String) throws -> JobRequest {
        let url = try History.outputFile(file, settings: settings)
        let p: RunProvenance
        do { p = try RunProvenance.read(url) } catch { throw ServeError.badRequest("\(file): \(error)") }
        guard let name = catalog.name(ofFile: p.pipeline) else {
            throw ServeError(403, "\(file) was made by \(p.pipeline), which is not a pipeline of the served folder")
        }
        let (pipelineURL, doc) = try document(name)
        for decl in doc.inputs where decl.type == .image || decl.type == .mask {
            if let path = p.inputs[decl.name], !Uploads.isUpload(path, settings: settings) {
                throw ServeError(403, "\(file): its input '\(decl.name)' is \(path), outside the server's uploads folder")
            }
        }
        // What the page never records is refused, so a rerun names nothing a form could not.
        guard p.sets.isEmpty else {
            throw ServeError(403, "\(file) was made with config overrides (\(p.sets.count) --set); the page does not rerun those (use muse-run --from)")
        }
        for input in p.inputs.keys where !doc.inputs.contains(where: { $0.name == input }) {
            throw ServeError.badRequest("\(file): pipeline '\(name)' no longer has its input '\(input)'")
        }
        if let v = p.variant, !doc.variants.contains(where: { $0.name == v }) {
            throw ServeError.badRequest("\(file): pipeline '\(name)' no longer has its variant '\(v)'")
        }
        var overrides = PipelineOverrides()
        overrides.inputs = p.inputs
        overrides.seed = p.seed
        return JobRequest(pipeline: name, file: pipelineURL, overrides: overrides, variant: p.variant,
                          ab: p.variant == nil && !doc.variants.isEmpty)
    }
}
