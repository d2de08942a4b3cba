import Foundation
import MuseCore

/// Where a stage input comes from.
public enum ValueSource: Equatable, CustomStringConvertible {
    case input(String)
    case stage(String, port: String)
    public var description: String {
        switch self { case .input(let n): return "input.\(n)"; case .stage(let s, let p): return "\(s).\(p)" }
    }
}

/// A stage after validation: its plugin entry, typed config and wiring.
public struct ResolvedStage {
    public let name: String
    public let entry: PluginRegistry.Entry
    public let config: StageConfig
    /// port -> source
    public let inputs: [String: ValueSource]
    public let location: SourceLocation
    public var kind: String { entry.spec.kind }
}

/// A pipeline that passed validation: stages in execution order, input values
/// loaded, outputs resolved. Running it cannot fail on anything the file says.
public struct ResolvedPipeline {
    public let document: PipelineDocument
    /// Topologically sorted (ties keep file order).
    public let stages: [ResolvedStage]
    public let inputValues: [String: Value]
    public let outputs: [(name: String, source: ValueSource, type: ValueType)]
    public let seed: UInt64
    /// The variant applied, if any.
    public let variant: String?
}

/// What the command line adds to a pipeline.
public struct PipelineOverrides {
    /// Pipeline input name -> value text (paths for image/mask inputs).
    public var inputs: [String: String] = [:]
    /// `stage.key=value` config overrides, in order.
    public var sets: [String] = []
    public var seed: UInt64?
    public init() {}
}
