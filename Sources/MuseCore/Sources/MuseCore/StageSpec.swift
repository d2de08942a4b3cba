import Foundation

/// The type of a stage config key.
public enum ConfigType: String, Sendable {
    case int, float, bool, string
    /// A file path; relative paths resolve against the pipeline YAML's folder.
    case path
}

/// A config value as the host hands it to a stage (already type-checked).
public enum ConfigValue: Equatable, Sendable, CustomStringConvertible {
    case int(Int)
    case float(Double)
    case bool(Bool)
    case string(String)

    public var description: String {
        switch self {
        case .int(let v): return String(v)
        case .float(let v): return String(v)
        case .bool(let v): return String(v)
        case .string(let v): return v
        }
    }
}

/// One config key a stage accepts.
public struct ConfigKey: Sendable {
    public let name: String
    public let type: ConfigType
    /// nil means the key is required.
    public let defaultValue: ConfigValue?
    public let doc: String
    /// For string keys: the allowed values (empty = any).
    public let choices: [String]
    /// For numeric keys: the allowed closed range.
    public let range: ClosedRange<Double>?

    public init(_ name: String, _ type: ConfigType, default defaultValue: ConfigValue? = nil,
                choices: [String] = [], range: ClosedRange<Double>? = nil, doc: String) {
        self.name = name; self.type = type; self.defaultValue = defaultValue
        self.choices = choices; self.range = range; self.doc = doc
    }
}

/// One input or output port of a stage.
public struct PortSpec: Sendable {
    public let name: String
    public let type: ValueType
    public let optional: Bool
    public let doc: String
    public init(_ name: String, _ type: ValueType, optional: Bool = false, doc: String) {
        self.name = name; self.type = type; self.optional = optional; self.doc = doc
    }
}

/// Whether a stage needs a weights file.
public enum WeightsRequirement: String, Sendable { case none, optional, required }

/// Everything the host needs to know about a stage kind before it runs: the one
/// place its config keys and ports are documented (`muse-run --describe` and
/// docs/ read it from here).
public struct StageSpec: Sendable {
    /// Dotted kind name, unique across loaded plugins, e.g. `image.resize`.
    public let kind: String
    public let summary: String
    public let config: [ConfigKey]
    public let inputs: [PortSpec]
    public let outputs: [PortSpec]
    public let weights: WeightsRequirement

    public init(kind: String, summary: String, config: [ConfigKey] = [], inputs: [PortSpec] = [],
                outputs: [PortSpec] = [], weights: WeightsRequirement = .none) {
        self.kind = kind; self.summary = summary; self.config = config
        self.inputs = inputs; self.outputs = outputs; self.weights = weights
    }

    public func configKey(_ name: String) -> ConfigKey? { config.first { $0.name == name } }
    public func input(_ name: String) -> PortSpec? { inputs.first { $0.name == name } }
    public func output(_ name: String) -> PortSpec? { outputs.first { $0.name == name } }

    /// Human-readable description of the stage: config keys and ports.
    public var describe: String {
        var s = "\(kind): \(summary)\n"
        if weights != .none { s += "  weights: \(weights.rawValue)\n" }
        if !config.isEmpty {
            s += "  config:\n"
            for k in config {
                let def = k.defaultValue.map { "default \($0)" } ?? "required"
                var extra = ""
                if !k.choices.isEmpty { extra += ", one of: \(k.choices.joined(separator: "|"))" }
                if let r = k.range {
                    extra += k.type == .int ? ", range \(Int(r.lowerBound))...\(Int(r.upperBound))" : ", range \(r.lowerBound)...\(r.upperBound)"
                }
                s += "    \(k.name) (\(k.type.rawValue), \(def)\(extra)): \(k.doc)\n"
            }
        }
        if !inputs.isEmpty {
            s += "  inputs:\n"
            for p in inputs { s += "    \(p.name): \(p.type.rawValue)\(p.optional ? " (optional)" : "") - \(p.doc)\n" }
        }
        if !outputs.isEmpty {
            s += "  outputs:\n"
            for p in outputs { s += "    \(p.name): \(p.type.rawValue) - \(p.doc)\n" }
        }
        return s
    }
}

/// The resolved, type-checked config of one stage instance.
public struct StageConfig: Sendable {
    /// Every declared key, with defaults filled in.
    public let values: [String: ConfigValue]
    /// The weights file, resolved to an absolute path, if the pipeline names one.
    public let weights: URL?
    /// Folder of the pipeline YAML (for resolving extra relative paths).
    public let baseDirectory: URL
    /// The stage's name in the pipeline, for error messages.
    public let stageName: String

    public init(values: [String: ConfigValue], weights: URL?, baseDirectory: URL, stageName: String) {
        self.values = values; self.weights = weights; self.baseDirectory = baseDirectory; self.stageName = stageName
    }

    private func missing(_ key: String, _ type: String) -> MuseError {
        MuseError("stage '\(stageName)': config key '\(key)' is missing or not \(type)")
    }
    public func int(_ key: String) throws -> Int {
        guard case .int(let v)? = values[key] else { throw missing(key, "an int") }
        return v
    }
    public func float(_ key: String) throws -> Double {
        switch values[key] {
        case .float(let v)?: return v
        case .int(let v)?: return Double(v)
        default: throw missing(key, "a number")
        }
    }
    public func bool(_ key: String) throws -> Bool {
        guard case .bool(let v)? = values[key] else { throw missing(key, "a bool") }
        return v
    }
    public func string(_ key: String) throws -> String {
        guard case .string(let v)? = values[key] else { throw missing(key, "a string") }
        return v
    }
    /// A path key resolved against the pipeline's folder ("" gives nil).
    public func path(_ key: String) throws -> URL? {
        let s = try string(key)
        if s.isEmpty { return nil }
        return URL(fileURLWithPath: s, relativeTo: baseDirectory).standardizedFileURL
    }
    /// The weights file; throws a clear error when the stage has none.
    public func requireWeights() throws -> URL {
        guard let w = weights else { throw MuseError("stage '\(stageName)': no weights file given (add `weights:` to the stage)") }
        return w
    }
}
