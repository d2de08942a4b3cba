import ArgumentParser
import Foundation
import MuseCore
import MuseEngine

/// `muse-train`: training runs and checkpoint tools.
struct MuseTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "muse-train",
        abstract: "Train muse-swift models and manage checkpoints.",
        subcommands: [TokenizerCommand.self, EvalTokenizerCommand.self, BaseCommand.self, EvalBaseCommand.self, EMA.self, PrecisionCheck.self])
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

MuseTrain.main()
