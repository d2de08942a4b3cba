import Foundation

/// Reports progress of an iterative stage (sampling steps, training steps).
public protocol ProgressReporter: AnyObject {
    /// `step` of `total` done; `note` is a short extra (e.g. loss).
    func update(stage: String, step: Int, total: Int, note: String)
    func finish(stage: String)
    /// True once whoever started the run asked it to stop (`muse-serve`'s cancel
    /// button). Long stages look at it through `StageContext.checkCancelled()`.
    var isCancelled: Bool { get }
}

extension ProgressReporter {
    /// Runs from the command line are never cancelled (Ctrl-C ends the process).
    public var isCancelled: Bool { false }
}

/// Thrown by a stage (or the runner, between stages) when the run was cancelled.
public struct CancelledError: Error, CustomStringConvertible {
    public init() {}
    public var description: String { "the run was cancelled" }
}

/// A reporter that prints nothing.
public final class SilentProgress: ProgressReporter {
    public init() {}
    public func update(stage: String, step: Int, total: Int, note: String) {}
    public func finish(stage: String) {}
}

/// What a running stage can see of the run besides its inputs.
public struct StageContext {
    /// Name of the stage instance in the pipeline.
    public let stageName: String
    /// Seed for this stage: derived from the run seed and the stage name, so the
    /// same run seed gives the same result whatever else is in the graph.
    public let seed: UInt64
    public let progress: ProgressReporter

    public init(stageName: String, seed: UInt64, progress: ProgressReporter) {
        self.stageName = stageName; self.seed = seed; self.progress = progress
    }

    /// Convenience: report progress for this stage.
    public func report(_ step: Int, of total: Int, note: String = "") {
        progress.update(stage: stageName, step: step, total: total, note: note)
    }

    /// Throws `CancelledError` when the run was cancelled: call it between the steps
    /// of long work (each sampling step does, through `SamplerInputs`).
    public func checkCancelled() throws {
        if progress.isCancelled { throw CancelledError() }
    }
}

/// Typed access to a stage's inputs. The host has already checked every
/// required port is present and of its declared type.
public struct StageInputs {
    public let values: [String: Value]
    public let stageName: String
    public init(_ values: [String: Value], stageName: String) { self.values = values; self.stageName = stageName }

    private func wrong(_ port: String, _ type: ValueType) -> MuseError {
        MuseError("stage '\(stageName)': input '\(port)' is missing or not \(type.rawValue)")
    }
    public func has(_ port: String) -> Bool { values[port] != nil }
    public func image(_ port: String) throws -> Image {
        guard case .image(let v)? = values[port] else { throw wrong(port, .image) }
        return v
    }
    public func mask(_ port: String) throws -> Mask {
        guard case .mask(let v)? = values[port] else { throw wrong(port, .mask) }
        return v
    }
    public func text(_ port: String) throws -> String {
        guard case .text(let v)? = values[port] else { throw wrong(port, .text) }
        return v
    }
    public func scalar(_ port: String) throws -> Double {
        guard case .scalar(let v)? = values[port] else { throw wrong(port, .scalar) }
        return v
    }
    public func tokenGrid(_ port: String) throws -> TokenGrid {
        guard case .tokenGrid(let v)? = values[port] else { throw wrong(port, .tokenGrid) }
        return v
    }
    public func tokenModel(_ port: String) throws -> any TokenModel {
        guard case .tokenModel(let v)? = values[port] else { throw wrong(port, .tokenModel) }
        return v
    }
    public func textEmbedding(_ port: String) throws -> TextEmbedding {
        guard case .textEmbedding(let v)? = values[port] else { throw wrong(port, .textEmbedding) }
        return v
    }
}

/// One instance of a stage kind, created with its config (and weights) once per
/// pipeline run and then run on inputs. Load weights in the factory, not in run.
public protocol Stage: AnyObject {
    /// Runs the stage; returns a value for every declared (non-optional) output port.
    func run(_ inputs: StageInputs, _ context: StageContext) throws -> [String: Value]
}

/// A stage that runs several items of a batch run in one call (e.g. a sampler
/// that puts every item's grids through the transformer together). The host
/// calls `runBatch` with every item's inputs and context when it runs a batch
/// (several prompts and/or seeds); single runs call `run`. Results are in item
/// order and must equal what `run` gives each item alone.
public protocol BatchStage: Stage {
    func runBatch(_ inputs: [StageInputs], _ contexts: [StageContext]) throws -> [[String: Value]]
}
