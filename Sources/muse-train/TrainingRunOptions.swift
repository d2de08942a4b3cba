import ArgumentParser
import Foundation
import MuseCore

/// The options every training command takes (`@OptionGroup`): config, run folder,
/// when to stop, what to export, evaluations and checkpoint interval.
struct TrainingRunOptions: ParsableArguments {
    @Option(help: "Training config (YAML), e.g. Pipelines/train/tokenizer-64.yaml or Pipelines/train/base-64.yaml.")
    var config: String

    @Option(name: .customLong("run"), help: "Run folder (created if missing); the run resumes from its state.safetensors.")
    var runFolder: String

    @Option(help: "Stop after this many optimizer steps in total (default: run to the end of the schedule or a signal).")
    var maxSteps: Int?

    @Option(help: "Stop after this many seconds of training in this process.")
    var maxSeconds: Double?

    @Option(help: "Write the shipped weights (weights only, with metadata) to this safetensors file when the run stops.")
    var exportWeights: String?

    @Option(help: "Data type of the exported weights: F16 (half the size; what ships) or F32.")
    var exportDtype: String = "F16"

    @Flag(help: "Skip the held-out evaluations (for short test runs).")
    var noEval = false

    @Option(help: "Seconds between checkpoints (overrides checkpoint_every_seconds; 0: after every step).")
    var checkpointEvery: Double?

    /// `--export-dtype` checked: F16 or F32.
    func dtype() throws -> SafeTensorDType {
        guard let d = SafeTensorDType(rawValue: exportDtype.uppercased()), d == .f16 || d == .f32 else {
            throw MuseError("--export-dtype must be F16 or F32, not \(exportDtype)")
        }
        return d
    }

    /// An export asked of a run folder with no state (a typo in --run) is an error, not random weights.
    func checkExportHasState(_ resumed: Bool) throws {
        if exportWeights != nil && !resumed && (maxSteps ?? 1) == 0 {
            throw MuseError("\(runFolder) holds no state.safetensors: nothing trained to export (check --run)")
        }
    }
}
