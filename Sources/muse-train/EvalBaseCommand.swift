import ArgumentParser
import Foundation
import MuseCore
import MuseData
import MuseEngine
import MuseImageTokenizer
import MuseBaseTransformer
import MuseMaskGITSampler
import MuseScenes
import MuseTextEncoder

/// `muse-train eval-base`: generates images from held-out prompts with a base
/// transformer and scores them (issue 18's "done when").
struct EvalBaseCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval-base",
        abstract: "Score base-transformer weights by generating images: scene exact match by category, emoji nearest-neighbour.",
        discussion: """
        Scenes: eval-split scene captions (seed --scene-seed), --prompts per category: one group of a seen \
        colour-shape pair, two groups with a relation (seen pairs), and any caption holding a held-out pair \
        (purple star, orange square, green circle, pink triangle). One image per prompt (seed = prompt \
        index), sampler.maskgit (its defaults unless the options below say otherwise) at guidance \
        --guidance and at guidance 0, decoded by the tokenizer, scored by the scene scorer (exact match; \
        SCENES.md). Emoji: --emoji-prompts names of the emoji training split; a hit when the generated \
        image's nearest training emoji (L2 at 32x32) is the prompted one. Issue 18's bars: single 75%, \
        relation 50%, held-out 40%, guidance above guidance 0; emoji 50%.
        """)

    @Option(help: "Base transformer weights, e.g. Weights/base-64.safetensors.")
    var weights: String
    @Option(help: "Image tokenizer weights (its decoder turns tokens into images).")
    var tokenizer: String = "Weights/tokenizer-64.safetensors"
    @Option(help: "Text encoder folder (scripts/fetch-text-encoder.sh).")
    var textEncoder: String = ".cache/text-encoder/all-MiniLM-L6-v2"
    @Option(help: "Scene prompts per category (0: no scenes).")
    var prompts: Int = 200
    @Option(help: "Seed of the eval scene generator.")
    var sceneSeed: UInt64 = 7
    @Option(help: "Emoji data set folder (muse-data emoji); names of its training split are the prompts. Empty: no emoji.")
    var emoji: String = ".cache/data/emoji"
    @Option(help: "Emoji prompts (0: none).")
    var emojiPrompts: Int = 200
    @Option(help: "Guidance scale of the guided run (a second run uses 0).")
    var guidance: Double = 3
    @Option(help: "Guidance ramp: linear (the paper: t rises to the scale over the steps) or constant.")
    var guidanceSchedule: String = "linear"
    @Option(help: "Decoding steps of sampler.maskgit.")
    var steps: Int = SamplerSettings().steps
    @Option(help: "Mask schedule of sampler.maskgit: \(MaskSchedule.allCases.map(\.rawValue).joined(separator: ", ")).")
    var schedule: String = SamplerSettings().schedule.rawValue
    @Option(help: "Sampling temperature of each token draw.")
    var temperature: Double = SamplerSettings().temperature
    @Option(help: "Draw each token from the k most likely ids only (0: all).")
    var topK: Int = SamplerSettings().topK
    @Option(help: "Choice temperature of sampler.maskgit: scale of the Gumbel noise on confidences at the first step, annealed to 0.")
    var choiceTemperature: Double = MaskGITSampler().choiceTemperature
    @Flag(help: "Skip the guidance-0 comparison run of the scene categories (halves the time; for sweeps of the sampler's settings).")
    var skipUnguided = false
    @Option(help: "Prompts generated together in one batch.")
    var batch: Int = 16
    @Option(help: "Write a contact sheet of the first generated scenes and emoji to this PNG.")
    var sheet: String?

    func run() throws {
        do {
            guard prompts >= 0, emojiPrompts >= 0, batch >= 1 else { throw MuseError("--prompts and --emoji-prompts must be >= 0, --batch >= 1") }
            guard let maskSchedule = MaskSchedule(rawValue: schedule) else {
                throw MuseError("--schedule \(schedule) is not one of \(MaskSchedule.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            guard let ramp = Guidance.Ramp(rawValue: guidanceSchedule) else {
                throw MuseError("--guidance-schedule \(guidanceSchedule) is not one of \(Guidance.Ramp.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            // The ranges sampler.maskgit's stage accepts (its config keys), so eval-base scores
            // only settings a pipeline could use.
            for (option, key, value) in [("--steps", "steps", Double(steps)), ("--temperature", "temperature", temperature),
                                         ("--top-k", "top_k", Double(topK)), ("--choice-temperature", "choice_temperature", choiceTemperature),
                                         ("--guidance", "guidance", guidance)] {
                guard let range = MaskGITSampler.configKeys.first(where: { $0.name == key })?.range else { continue }
                guard range.contains(value) else {
                    throw MuseError("\(option) \(EvalBaseCommand.number(value)) is outside \(EvalBaseCommand.number(range.lowerBound))...\(EvalBaseCommand.number(range.upperBound)) (sampler.maskgit's \(key))")
                }
            }
            let model = BaseTokenModel(try BaseTransformerModel.load(contentsOf: URL(fileURLWithPath: weights)))
            let decoder = try ImageTokenizerModel.load(contentsOf: URL(fileURLWithPath: tokenizer), parts: .decoder)
            guard decoder.codebookName == model.info.codebook else {
                throw MuseError("\(tokenizer) decodes codebook '\(decoder.codebookName)', the transformer predicts '\(model.info.codebook)'")
            }
            let encoder = try TextEncoder(modelDirectory: URL(fileURLWithPath: textEncoder), maxTokens: model.info.maxTextTokens, cacheCapacity: 0)
            encoder.warn = { _ in }
            let size = model.info.gridHeight * 8
            var sheetImages: [(Image, String)] = []
            func generate(_ captions: [String], guidance g: Double, label: String) throws -> [Image] {
                var sampler = MaskGITSampler()
                sampler.settings.guidance = Guidance(scale: g, ramp: ramp)
                sampler.settings.steps = steps
                sampler.settings.schedule = maskSchedule
                sampler.settings.temperature = temperature
                sampler.settings.topK = topK
                sampler.choiceTemperature = choiceTemperature
                var out: [Image] = []
                let progress = TerminalProgress().counter("\(label)", total: captions.count)
                for start in stride(from: 0, to: captions.count, by: batch) {
                    let part = Array(captions[start..<min(captions.count, start + batch)])
                    let texts = try encoder.encode(batch: part)
                    let items = texts.enumerated().map { SamplingItem(text: $0.element, seed: UInt64(start + $0.offset)) }
                    let grids = try sampler.sample(model, items).map {
                        TokenGrid(ids: $0, height: model.info.gridHeight, width: model.info.gridWidth, codebook: model.info.codebook)
                    }
                    out += try decoder.decode(grids)
                    progress(start + part.count)
                }
                return out
            }
            var summary: [String] = []
            if prompts > 0 {
                let gen = SceneGenerator(seed: sceneSeed, split: .eval)
                var cats: [String: [SceneCaption]] = ["single": [], "relation": [], "held-out": []]
                var i = 0
                while cats.values.contains(where: { $0.count < prompts }) && i < 1_000_000 {
                    let c = gen.scene(i).caption
                    i += 1
                    let cat = c.groups.contains { $0.pair.isHeldOut } ? "held-out" : (c.groups.count == 1 ? "single" : "relation")
                    if cats[cat]!.count < prompts { cats[cat]!.append(c) }
                }
                let scorer = SceneScorer()
                for cat in ["single", "relation", "held-out"] {
                    var line = String(format: "%-9@", cat)
                    for g in skipUnguided ? [guidance] : [guidance, 0] {
                        let imgs = try generate(cats[cat]!.map { $0.text }, guidance: g, label: "\(cat), guidance \(g)")
                        let exact = zip(imgs, cats[cat]!).filter { scorer.score($0.0, caption: $0.1).exact }.count
                        line += String(format: "  guidance %.1f: %5.1f%% exact", g, 100 * Double(exact) / Double(imgs.count))
                        if g == guidance { sheetImages += zip(imgs.prefix(8), cats[cat]!.prefix(8).map { $0.text }).map { ($0.0, $0.1) } }
                    }
                    summary.append(line + " (\(cats[cat]!.count) prompts)")
                }
            }
            if emojiPrompts > 0 && !emoji.isEmpty {
                let ds = try DataSet(root: URL(fileURLWithPath: emoji), split: "train")
                var rng = SeededRNG(seed: 11)
                var idx = Array(0..<ds.items.count)
                rng.shuffle(&idx)
                let chosen = Array(idx.prefix(emojiPrompts))
                let small = try ds.items.map { EvalBaseCommand.thumbnail(try ds.image($0, size: size)) }
                let imgs = try generate(chosen.map { ds.items[$0].captions[0] }, guidance: guidance, label: "emoji, guidance \(guidance)")
                var hits = 0
                for (img, want) in zip(imgs, chosen) {
                    let t = EvalBaseCommand.thumbnail(img)
                    var best = 0, bestD = Double.infinity
                    for (j, s) in small.enumerated() {
                        var d = 0.0
                        for k in 0..<t.count { let e = Double(t[k] - s[k]); d += e * e }
                        if d < bestD { bestD = d; best = j }
                    }
                    if best == want { hits += 1 }
                }
                sheetImages += zip(imgs.prefix(8), chosen.prefix(8).map { ds.items[$0].captions[0] }).map { ($0.0, $0.1) }
                summary.append(String(format: "emoji     nearest training emoji is the prompted one: %.1f%% (%d of %d names, guidance %.1f)",
                                      100 * Double(hits) / Double(max(1, imgs.count)), hits, imgs.count, guidance))
            }
            print(String(format: "sampler.maskgit: %d steps, %@ schedule, guidance %.2f (%@), temperature %.2f, top-k %d, choice temperature %.2f",
                         steps, schedule, guidance, guidanceSchedule, temperature, topK, choiceTemperature))
            print("\(weights): \(summary.joined(separator: "\n"))")
            if let sheet, !sheetImages.isEmpty {
                let grid = ImageGrid.make(images: sheetImages.map { $0.0 }, labels: sheetImages.map { $0.1 }, columns: 8, cellSize: 128,
                                          labelLines: 3, title: "\(weights): generated at guidance \(guidance), one seed per prompt")
                try PNGCodec.write(grid, to: URL(fileURLWithPath: sheet))
                print("wrote \(sheet)")
            }
        } catch let e as MuseError {
            FileHandle.standardError.write(Data("muse-train eval-base: error: \(e.message)\n".utf8))
            throw ExitCode.failure
        }
    }

    /// 32x32 RGB thumbnail (2x2 box average of a 64 px image), flat.
    /// A number as a user typed it: 24, not 24.0.
    static func number(_ x: Double) -> String {
        x == x.rounded() && abs(x) < 1e15 ? String(Int64(x)) : String(x)
    }

    static func thumbnail(_ img: Image) -> [Float] {
        let f = img.width / 32
        var out = [Float](repeating: 0, count: 32 * 32 * 3)
        for y in 0..<32 { for x in 0..<32 { for c in 0..<3 {
            var s: Float = 0
            for dy in 0..<f { for dx in 0..<f { s += img.pixels[((y * f + dy) * img.width + x * f + dx) * 3 + c] } }
            out[(y * 32 + x) * 3 + c] = s / Float(f * f)
        } } }
        return out
    }
}
