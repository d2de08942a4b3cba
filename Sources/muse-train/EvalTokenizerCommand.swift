import ArgumentParser
import Foundation
import MuseCore
import MuseEngine
import MuseImageTokenizer

/// `muse-train eval-tokenizer`: the tokenizer's held-out scores for any weights file.
struct EvalTokenizerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval-tokenizer",
        abstract: "Score image-tokenizer weights on held-out data: scene survival, PSNR, code use.",
        discussion: """
        Scene survival: of --scenes eval-split scenes (seed --scene-seed; half of them hold a held-out \
        colour-shape pair) that the scene scorer reads correctly at ground truth, the fraction it still \
        reads correctly after encode -> decode. PSNR on those scenes and on the held-out emoji split. \
        Code use: distinct token ids over all of it, of the vocabulary. Issue 17's bar: survival >= 95% \
        on 1,000 scenes, emoji PSNR >= 24 dB, code use >= 70%.
        """)

    @Option(help: "Tokenizer weights (safetensors with muse.tokenizer metadata), e.g. Weights/tokenizer-64.safetensors.")
    var weights: String

    @Option(help: "Eval-split scenes to score.")
    var scenes: Int = 1000

    @Option(help: "Seed of the eval scene generator.")
    var sceneSeed: UInt64 = 7

    @Option(help: "Emoji data set folder (muse-data emoji); its eval split is used. Empty: no emoji.")
    var emoji: String = ".cache/data/emoji"

    @Option(help: "Image size (64 or 128).")
    var size: Int = 64

    @Option(help: "Write a contact sheet of the first reconstructions to this PNG.")
    var sheet: String?

    func run() throws {
        do {
            guard scenes >= 0, size == 64 || size == 128 else { throw MuseError("--scenes must be >= 0 and --size 64 or 128") }
            let model = try ImageTokenizerModel.load(contentsOf: URL(fileURLWithPath: weights))
            let t0 = Date()
            let set = try TokenizerEvalSet(sceneCount: scenes, sceneSeed: sceneSeed, emojiDir: emoji.isEmpty ? nil : URL(fileURLWithPath: emoji),
                                           emojiCount: emoji.isEmpty ? 0 : Int.max, size: size)
            let (scores, samples) = try TokenizerScores.measure(model, on: set)
            print("\(weights) (codebook \(model.codebookName)): \(set.scenes.count) scenes, \(set.emoji.count) emoji")
            print(scores.summary)
            if let sheet {
                try PNGCodec.write(TokenizerScores.contactSheet(samples, title: scores.summary), to: URL(fileURLWithPath: sheet))
                print("wrote \(sheet)")
            }
            print(String(format: "(%.1f s)", Date().timeIntervalSince(t0)))
        } catch let e as MuseError {
            FileHandle.standardError.write(Data("muse-train eval-tokenizer: error: \(e.message)\n".utf8))
            throw ExitCode.failure
        }
    }
}
