import Foundation
import MuseCore
import MuseData
import MuseEmoji
import MuseScenes
import MuseImageTokenizer

/// Where the tokenizer's training data stream is (saved in checkpoints).
struct TokenizerDataState: Codable, Equatable {
    /// Next training scene index of the scene generator.
    var sceneIndex: Int
    /// The emoji loader's position.
    var emoji: LoaderState?
}

/// The tokenizer's training stream: each example is an emoji of the training split
/// (with probability `emojiFraction`, in the loader's shuffled order) or the next
/// procedural training scene (training colour-shape pairs only), at `imageSize`,
/// optionally cropped at a random position. Deterministic given the state and the RNG.
struct TokenizerDataStream {
    let recipe: TokenizerRecipe
    private(set) var state: TokenizerDataState
    private var emojiLoader: DataLoader?
    private let emojiImages: [Image]
    private let generator: SceneGenerator
    private let renderer = SceneRenderer()

    init(recipe: TokenizerRecipe, resume: TokenizerDataState?) throws {
        self.recipe = recipe
        generator = SceneGenerator(seed: recipe.sceneSeed, split: .train)
        if recipe.emojiFraction > 0 {
            let ds = try DataSet(root: recipe.emojiDir, split: "train")
            emojiImages = try ds.items.map { try ds.image($0, size: recipe.imageSize) }
            emojiLoader = try DataLoader(dataset: ds, batchSize: 1, seed: SeededRNG.derive(recipe.seed, "emoji"),
                                         size: recipe.imageSize, resume: resume?.emoji)
        } else {
            emojiImages = []
        }
        state = TokenizerDataState(sceneIndex: resume?.sceneIndex ?? 0, emoji: emojiLoader?.state)
    }

    var emojiCount: Int { emojiImages.count }

    /// `count` examples, cropped to `crop` px when given.
    mutating func next(_ count: Int, crop: Int?, rng: inout SeededRNG) -> [Image] {
        var out: [Image] = []
        for _ in 0..<count {
            var img: Image
            if emojiLoader != nil && rng.uniform() < recipe.emojiFraction {
                img = emojiImages[emojiLoader!.nextIndices().items[0]]
                state.emoji = emojiLoader!.state
            } else {
                img = renderer.render(generator.scene(state.sceneIndex), size: recipe.imageSize)
                state.sceneIndex += 1
            }
            if let c = crop, c < img.width {
                let x = rng.int(img.width - c + 1), y = rng.int(img.height - c + 1)
                img = img.cropped(x: x, y: y, width: c, height: c)
            }
            out.append(img)
        }
        return out
    }
}

/// The fixed held-out images a tokenizer is measured on: eval-split scenes that
/// the scorer reads correctly at ground truth (held-out colour-shape pairs
/// included), and emoji of the held-out split.
struct TokenizerEvalSet {
    var scenes: [(image: Image, caption: SceneCaption)] = []
    var emoji: [Image] = []

    init(sceneCount: Int, sceneSeed: UInt64, emojiDir: URL?, emojiCount: Int, size: Int) throws {
        let gen = SceneGenerator(seed: sceneSeed, split: .eval), renderer = SceneRenderer(), scorer = SceneScorer()
        var i = 0
        while scenes.count < sceneCount {
            let s = gen.scene(i)
            let img = renderer.render(s, size: size)
            if scorer.score(img, caption: s.caption).exact { scenes.append((img, s.caption)) }
            i += 1
            if i > sceneCount * 2 + 100 { throw MuseError("scene scorer fails most ground-truth scenes; cannot build the eval set") }
        }
        if let dir = emojiDir, emojiCount > 0 {
            let ds = try DataSet(root: dir, split: "eval")
            emoji = try ds.items.prefix(emojiCount).map { try ds.image($0, size: size) }
        }
    }
}

/// Scores of a tokenizer on the eval set.
struct TokenizerScores {
    var sceneSurvival = Double.nan, scenePSNR = Double.nan, emojiPSNR = Double.nan
    var codesUsed = 0, vocabulary = 0
    var codeUse: Double { vocabulary == 0 ? .nan : Double(codesUsed) / Double(vocabulary) }

    var summary: String {
        String(format: "scene survival %.1f%%, scene PSNR %.2f dB, emoji PSNR %.2f dB, codes used %d/%d (%.1f%%)",
               100 * sceneSurvival, scenePSNR, emojiPSNR, codesUsed, vocabulary, 100 * codeUse)
    }

    /// PSNR in dB of `a` against `b` (pixels in [0, 1]), capped at 100.
    static func psnr(_ a: Image, _ b: Image) -> Double {
        var s = 0.0
        for i in 0..<a.pixels.count { let d = Double(a.pixels[i] - b.pixels[i]); s += d * d }
        let mse = s / Double(max(1, a.pixels.count))
        return mse <= 1e-10 ? 100 : 10 * log10(1 / mse)
    }

    /// Reconstructs every eval image (in batches) and scores it; `samples` gets the first
    /// `sampleCount` originals and reconstructions of each kind for a contact sheet.
    static func measure(_ model: ImageTokenizerModel, on set: TokenizerEvalSet, batch: Int = 32,
                        sampleCount: Int = 8) throws -> (TokenizerScores, samples: [(Image, Image, String)]) {
        var r = TokenizerScores()
        r.vocabulary = model.config.vocabularySize
        var used = Set<Int32>()
        var samples: [(Image, Image, String)] = []
        let scorer = SceneScorer()
        var survived = 0, psnrSum = 0.0
        for start in stride(from: 0, to: set.scenes.count, by: batch) {
            let part = Array(set.scenes[start..<min(set.scenes.count, start + batch)])
            let (rec, ids) = try model.reconstruct(part.map { $0.image })
            used.formUnion(ids)
            for (k, (orig, caption)) in part.enumerated() {
                let ok = scorer.score(rec[k], caption: caption).exact
                if ok { survived += 1 }
                psnrSum += psnr(rec[k], orig)
                if start + k < sampleCount { samples.append((orig, rec[k], (ok ? "ok " : "LOST ") + caption.text)) }
            }
        }
        if !set.scenes.isEmpty {
            r.sceneSurvival = Double(survived) / Double(set.scenes.count)
            r.scenePSNR = psnrSum / Double(set.scenes.count)
        }
        psnrSum = 0
        for start in stride(from: 0, to: set.emoji.count, by: batch) {
            let part = Array(set.emoji[start..<min(set.emoji.count, start + batch)])
            let (rec, ids) = try model.reconstruct(part)
            used.formUnion(ids)
            for (k, orig) in part.enumerated() {
                let p = psnr(rec[k], orig)
                psnrSum += p
                if start + k < sampleCount { samples.append((orig, rec[k], String(format: "emoji %.1f dB", p))) }
            }
        }
        if !set.emoji.isEmpty { r.emojiPSNR = psnrSum / Double(set.emoji.count) }
        r.codesUsed = used.count
        return (r, samples)
    }

    /// A contact sheet: each original next to its reconstruction.
    static func contactSheet(_ samples: [(Image, Image, String)], title: String) -> Image {
        var images: [Image] = [], labels: [String] = []
        for (o, rec, label) in samples {
            images.append(o); labels.append("original")
            images.append(rec); labels.append(label)
        }
        return ImageGrid.make(images: images, labels: labels, columns: 8, cellSize: 96, title: title)
    }
}
