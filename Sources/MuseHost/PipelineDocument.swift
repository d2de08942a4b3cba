import Foundation
import MuseCore
import Yams

/// A value with the place in the pipeline file it came from.
public struct Located<T>: CustomStringConvertible {
    public var value: T
    public var location: SourceLocation
    public init(_ value: T, _ location: SourceLocation) { self.value = value; self.location = location }
    public var description: String { "\(value)" }
}

/// A scalar as written in YAML (or on the command line), not yet typed: the
/// validator types it against the stage's declaration.
public struct RawScalar {
    public var text: String
    /// True when YAML quoted it (then it is a string even if it looks like a number).
    public var quoted: Bool
    public var location: SourceLocation
}

/// A pipeline-level input (`inputs:`), overridable from the command line.
public struct InputDecl {
    public var name: String
    public var type: ValueType
    public var defaultValue: RawScalar?
    public var doc: String
    /// `optional: true`: the input may be left out (it has no default). Stages that
    /// need it then do not run, and optional ports it feeds get nothing (docs/pipelines.md).
    public var optional: Bool = false
    public var location: SourceLocation
}

/// One stage of the graph as written.
public struct StageDecl {
    public var name: String
    public var kind: Located<String>
    public var plugin: Located<String>?
    public var config: [(key: Located<String>, value: RawScalar)]
    public var weights: Located<String>?
    /// port -> `stage.port` or `input.name`
    public var inputs: [(port: Located<String>, ref: Located<String>)]
    public var location: SourceLocation
}

/// Partial stage fields a variant replaces.
public struct StageOverride {
    public var stage: Located<String>
    public var kind: Located<String>?
    public var plugin: Located<String>?
    public var config: [(key: Located<String>, value: RawScalar)]
    public var weights: Located<String>?
}

/// An A/B variant: config overrides and stage swaps applied to the base graph.
public struct VariantDecl {
    public var name: String
    /// `stage.key` -> value
    public var sets: [(path: Located<String>, value: RawScalar)]
    public var stages: [StageOverride]
    public var location: SourceLocation
}

/// A parsed (not yet validated) pipeline file: format v1, see docs/pipelines.md.
public struct PipelineDocument {
    public var file: URL
    public var description: String
    public var plugins: [Located<String>]
    public var inputs: [InputDecl]
    public var stages: [StageDecl]
    public var outputs: [(name: String, ref: Located<String>)]
    public var variants: [VariantDecl]
    public var directory: URL { file.deletingLastPathComponent() }

    /// Parses `file`. Throws `PipelineError` listing every problem found with its `file:line:column`.
    public static func load(_ file: URL) throws -> PipelineDocument {
        let data: Data
        do { data = try Data(contentsOf: file) } catch {
            throw PipelineError(SourceLocation(file: file.path, line: 0, column: 0), "cannot read pipeline file (\(error.localizedDescription))")
        }
        let bytes = [UInt8](data)
        if let at = UTF8Check.firstInvalidByte(bytes) {
            let (line, column) = UTF8Check.lineAndColumn(bytes, offset: at)
            throw PipelineError(SourceLocation(file: file.path, line: line, column: column),
                                "the file is not valid UTF-8: byte \(String(format: "0x%02X", bytes[at])) at byte offset \(at)")
        }
        return try parse(String(decoding: bytes, as: UTF8.self), file: file)
    }

    public static func parse(_ text: String, file: URL) throws -> PipelineDocument {
        var parser = DocumentParser(path: file.path)
        let root: Node?
        do { root = try Yams.compose(yaml: text) } catch let e as YamlError {
            throw PipelineError([parser.yamlIssue(e)])
        }
        guard let root else { throw PipelineError(SourceLocation(file: file.path, line: 1, column: 1), "pipeline file is empty") }
        let doc = parser.document(root, file: file)
        if !parser.issues.isEmpty { throw PipelineError(parser.issues) }
        return doc!
    }
}

/// Walks the YAML node tree, collecting issues instead of stopping at the first.
struct DocumentParser {
    let path: String
    var issues: [PipelineIssue] = []

    init(path: String) { self.path = path }

    func loc(_ node: Node) -> SourceLocation {
        let m = node.mark
        return SourceLocation(file: path, line: m?.line ?? 0, column: m?.column ?? 0)
    }
    mutating func issue(_ node: Node, _ message: String) { issues.append(PipelineIssue(location: loc(node), message: message)) }

    func yamlIssue(_ e: YamlError) -> PipelineIssue {
        switch e {
        case let .scanner(context, problem, mark, _), let .parser(context, problem, mark, _), let .composer(context, problem, mark, _):
            let ctx = context.map { "\($0.text) " } ?? ""
            return PipelineIssue(location: SourceLocation(file: path, line: mark.line, column: mark.column), message: "malformed YAML: \(ctx)\(problem)")
        case let .duplicatedKeysInMapping(duplicates, context):
            let keys = duplicates.sorted().map { "'\($0)'" }.joined(separator: ", ")
            return PipelineIssue(location: SourceLocation(file: path, line: context.mark.line, column: context.mark.column),
                                 message: "duplicate key \(keys) in this mapping")
        case let .reader(problem, offset, _, _):
            return PipelineIssue(location: SourceLocation(file: path, line: 1, column: 1), message: "malformed YAML: \(problem) at byte \(offset ?? 0)")
        default:
            return PipelineIssue(location: SourceLocation(file: path, line: 1, column: 1), message: "malformed YAML: \(e)")
        }
    }

    /// The pairs of a mapping node (Yams has already refused duplicate keys).
    mutating func pairs(_ node: Node, _ what: String) -> [(key: Located<String>, value: Node)]? {
        guard let map = node.mapping else { issue(node, "\(what) must be a mapping (key: value)"); return nil }
        var out: [(key: Located<String>, value: Node)] = []
        for (k, v) in map {
            guard let ks = k.scalar?.string else { issue(k, "\(what): keys must be plain names"); continue }
            out.append((Located(ks, loc(k)), v))
        }
        return out
    }

    mutating func string(_ node: Node, _ what: String) -> Located<String>? {
        guard let s = node.scalar else { issue(node, "\(what) must be a single value, not a list or mapping"); return nil }
        return Located(s.string, loc(node))
    }

    mutating func raw(_ node: Node, _ what: String) -> RawScalar? {
        guard let s = node.scalar else { issue(node, "\(what) must be a single value, not a list or mapping"); return nil }
        let quoted = s.style == .singleQuoted || s.style == .doubleQuoted
        return RawScalar(text: s.string, quoted: quoted, location: loc(node))
    }

    mutating func checkKeys(_ keys: [Located<String>], allowed: [String], in what: String) {
        for k in keys where !allowed.contains(k.value) {
            issues.append(PipelineIssue(location: k.location,
                message: "unknown key '\(k.value)' in \(what)\(didYouMean(k.value, among: allowed)); allowed: \(allowed.joined(separator: ", "))"))
        }
    }

    mutating func document(_ root: Node, file: URL) -> PipelineDocument? {
        guard let top = pairs(root, "the pipeline") else { return nil }
        checkKeys(top.map(\.key), allowed: ["version", "description", "plugins", "inputs", "stages", "outputs", "variants"], in: "the pipeline")
        var doc = PipelineDocument(file: file, description: "", plugins: [], inputs: [], stages: [], outputs: [], variants: [])
        let field = Dictionary(top.map { ($0.key.value, $0) }, uniquingKeysWith: { a, _ in a })
        if let v = field["version"] {
            if v.value.scalar?.string != "1" { issue(v.value, "unsupported pipeline format version '\(v.value.scalar?.string ?? "?")' (this muse-run reads version 1)") }
        } else {
            issue(root, "missing 'version: 1' at the top of the pipeline")
        }
        if let d = field["description"], let s = string(d.value, "description") { doc.description = s.value }
        if let p = field["plugins"] {
            if let seq = p.value.sequence { doc.plugins = seq.compactMap { string($0, "a plugins entry") } }
            else { issue(p.value, "plugins must be a list of .so paths (relative to this file)") }
        }
        if let i = field["inputs"], let items = pairs(i.value, "inputs") {
            for (name, node) in items { if let d = inputDecl(name, node) { doc.inputs.append(d) } }
        }
        if let s = field["stages"], let items = pairs(s.value, "stages") {
            for (name, node) in items { if let d = stageDecl(name, node) { doc.stages.append(d) } }
            if items.isEmpty { issue(s.value, "the pipeline has no stages") }
        } else {
            issue(root, "missing 'stages:' section")
        }
        if let o = field["outputs"], let items = pairs(o.value, "outputs") {
            for (name, node) in items { if let r = string(node, "output '\(name.value)'") { doc.outputs.append((name.value, r)) } }
        }
        if let v = field["variants"], let items = pairs(v.value, "variants") {
            for (name, node) in items { if let d = variantDecl(name, node) { doc.variants.append(d) } }
        }
        return doc
    }

    mutating func inputDecl(_ name: Located<String>, _ node: Node) -> InputDecl? {
        guard let items = pairs(node, "input '\(name.value)'") else { return nil }
        checkKeys(items.map(\.key), allowed: ["type", "default", "doc", "optional"], in: "input '\(name.value)'")
        var type: ValueType?
        var def: RawScalar?
        var doc = ""
        var optional = false
        for (k, v) in items {
            switch k.value {
            case "type":
                if let t = string(v, "type") {
                    let allowed: [ValueType] = [.text, .scalar, .image, .mask]
                    if let vt = ValueType(rawValue: t.value), allowed.contains(vt) { type = vt }
                    else { issue(v, "input '\(name.value)': type '\(t.value)' is not one of \(allowed.map(\.rawValue).joined(separator: ", "))\(didYouMean(t.value, among: allowed.map(\.rawValue)))") }
                }
            case "default": def = raw(v, "default")
            case "doc": doc = string(v, "doc")?.value ?? ""
            case "optional":
                switch v.scalar?.string {
                case "true": optional = true
                case "false": optional = false
                default: issue(v, "input '\(name.value)': optional must be true or false")
                }
            default: break
            }
        }
        guard let t = type else {
            if !items.contains(where: { $0.key.value == "type" }) { issue(node, "input '\(name.value)' needs a 'type'") }
            return nil
        }
        if optional, def != nil {
            issue(node, "input '\(name.value)' has a default and is optional: an input with a default is always given; drop one of the two")
        }
        return InputDecl(name: name.value, type: t, defaultValue: def, doc: doc, optional: optional, location: name.location)
    }

    mutating func configPairs(_ node: Node, _ what: String) -> [(key: Located<String>, value: RawScalar)] {
        guard let items = pairs(node, what) else { return [] }
        return items.compactMap { k, v in raw(v, "\(what) '\(k.value)'").map { (k, $0) } }
    }

    mutating func stageDecl(_ name: Located<String>, _ node: Node) -> StageDecl? {
        if name.value.contains(".") || name.value == "input" {
            issues.append(PipelineIssue(location: name.location, message: "stage name '\(name.value)' may not contain '.' nor be 'input'"))
        }
        guard let items = pairs(node, "stage '\(name.value)'") else { return nil }
        checkKeys(items.map(\.key), allowed: ["kind", "plugin", "config", "weights", "inputs"], in: "stage '\(name.value)'")
        var kind: Located<String>?
        var decl = StageDecl(name: name.value, kind: Located("", name.location), plugin: nil, config: [], weights: nil, inputs: [], location: name.location)
        for (k, v) in items {
            switch k.value {
            case "kind": kind = string(v, "kind")
            case "plugin": decl.plugin = string(v, "plugin")
            case "weights": decl.weights = string(v, "weights")
            case "config": decl.config = configPairs(v, "config of stage '\(name.value)'")
            case "inputs":
                if let ins = pairs(v, "inputs of stage '\(name.value)'") {
                    decl.inputs = ins.compactMap { p, r in string(r, "input '\(p.value)'").map { (p, $0) } }
                }
            default: break
            }
        }
        guard let kind else { issue(node, "stage '\(name.value)' needs a 'kind'"); return nil }
        decl.kind = kind
        return decl
    }

    mutating func variantDecl(_ name: Located<String>, _ node: Node) -> VariantDecl? {
        guard let items = pairs(node, "variant '\(name.value)'") else { return nil }
        checkKeys(items.map(\.key), allowed: ["set", "stages"], in: "variant '\(name.value)'")
        var v = VariantDecl(name: name.value, sets: [], stages: [], location: name.location)
        for (k, n) in items {
            switch k.value {
            case "set": v.sets = configPairs(n, "set of variant '\(name.value)'").map { ($0.key, $0.value) }
            case "stages":
                guard let overrides = pairs(n, "stages of variant '\(name.value)'") else { continue }
                for (stage, body) in overrides {
                    guard let fields = pairs(body, "variant '\(name.value)' stage '\(stage.value)'") else { continue }
                    checkKeys(fields.map(\.key), allowed: ["kind", "plugin", "config", "weights"], in: "variant '\(name.value)' stage '\(stage.value)'")
                    var o = StageOverride(stage: stage, kind: nil, plugin: nil, config: [], weights: nil)
                    for (fk, fv) in fields {
                        switch fk.value {
                        case "kind": o.kind = string(fv, "kind")
                        case "plugin": o.plugin = string(fv, "plugin")
                        case "weights": o.weights = string(fv, "weights")
                        case "config": o.config = configPairs(fv, "config")
                        default: break
                        }
                    }
                    v.stages.append(o)
                }
            default: break
            }
        }
        return v
    }
}
