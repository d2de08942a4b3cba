import ArgumentParser
import Foundation
import MuseCore
import MuseEngine

/// `muse-train`: training runs and checkpoint tools.
struct MuseTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "muse-train",
        abstract: "Train muse-swift models and manage checkpoints.",
        subcommands: [TokenizerCommand.self, EvalTokenizerCommand.self, BaseCommand.self, EvalBaseCommand.self, EMA.self, CompactState.self, PrecisionCheck.self])
}

/// `muse-train ema`: offline exponential moving average of checkpoints.
struct EMA: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ema",
        abstract: "Average checkpoints offline with an exponential moving average (the Muse paper uses decay 0.7).",
        discussion: """
        Starting from the first checkpoint, each later one is folded in as
        ema = decay * ema + (1 - decay) * weights. Give checkpoints oldest first.
        Every checkpoint must hold the same weights with the same shapes (a
        weight missing from, or present only in, a later one is an error), and
        weights holding NaN or infinities are refused.
        Training state (optimizer moments, step, RNG) is dropped; the output holds
        weights only and loads like any weights file. Sharded checkpoints are read
        through their main file and written sharded past ~45 MB.
        """)

    @Option(help: "EMA decay in [0, 1].")
    var decay: Float = 0.7

    @Option(help: "Output safetensors file.")
    var out: String

    @Argument(help: "Checkpoint files, oldest first.")
    var checkpoints: [String]

    func validate() throws {
        if checkpoints.isEmpty { throw ValidationError("give at least one checkpoint") }
        if !(0...1).contains(decay) { throw ValidationError("--decay must be in [0, 1], got \(decay)") }
    }

    func run() throws {
        do {
            let n = try CheckpointEMA.average(checkpoints.map { URL(fileURLWithPath: $0) }, decay: decay,
                                              output: URL(fileURLWithPath: out))
            print("wrote \(out): EMA (decay \(decay)) of \(checkpoints.count) checkpoints, \(n) tensors")
        } catch let e as MuseError {
            FileHandle.standardError.write(Data("muse-train ema: error: \(e.message)\n".utf8))
            throw ExitCode.failure
        }
    }
}

/// `muse-train compact-state`: a training checkpoint with its optimizer state in BF16, for committing.
struct CompactState: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compact-state",
        abstract: "Rewrite training checkpoints with their optimizer state in BF16 (about 2/3 of the size), for committing a run's state.",
        discussion: """
        Weights, step, RNG, data position and metadata are kept exactly; the
        optimizer's moments are rounded to bf16 (8 significant bits, F32's exponent
        range). A run resumed from a compacted state goes on from the same step and
        data position, with its moments rounded (so not bit-identical to a run that
        was never stopped); its next checkpoint is full precision again. Stop the
        run first (scripts/stop-training.sh does both). Compacting twice changes
        nothing.
        """)

    @Argument(help: "Training checkpoints (a run folder's state.safetensors).")
    var states: [String]

    func validate() throws {
        if states.isEmpty { throw ValidationError("give at least one training checkpoint") }
    }

    func run() throws {
        for path in states {
            do {
                let (before, after) = try TrainingCheckpoint.compactOptimizerState(at: URL(fileURLWithPath: path))
                print(String(format: "%@: %.1f MB -> %.1f MB (optimizer state in BF16)", path, Double(before) / 1e6, Double(after) / 1e6))
            } catch let e as MuseError {
                FileHandle.standardError.write(Data("muse-train compact-state: error: \(e.message)\n".utf8))
                throw ExitCode.failure
            }
        }
    }
}

MuseTrain.main()
