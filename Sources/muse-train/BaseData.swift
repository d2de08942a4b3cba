import Foundation
import MuseCore
import MuseData
import MuseEngine
import MuseImageTokenizer
import MuseBaseTransformer
import MuseScenes
import MuseTextEncoder

/// The base transformer's training pool, built once and cached: the token grid of
/// every training image (procedural training scenes, then the emoji training split),
/// the caption variants of each, and the text encoder's hidden states of every
/// distinct caption (stored F16, held F32 in memory).
///
/// File: `<cache>/pool-<tokenizer sha256 prefix>-<key>.safetensors`, where `<key>` is the
/// FNV-1a of everything else the pool depends on (scene count and seed, the emoji
/// manifest's SHA-256, the text encoder's fingerprint, max_text_tokens). Tensors:
/// `tokens` I64 `[N, T]`, `caption_start` I64 `[N + 1]`, `caption_ids` I64 `[K]`,
/// `text_start` I64 `[C + 1]`, `hidden` F16 `[rows, dim]`.
final class BasePool {
    let count: Int
    let tokensPerGrid: Int
    let dim: Int
    /// `[count * tokensPerGrid]`.
    let tokens: [Int32]
    private let captionStart: [Int], captionIDs: [Int]
    private let textStart: [Int]
    private let hidden: [Float]
    let url: URL

    /// Number of distinct captions.
    var captionCount: Int { textStart.count - 1 }

    /// Caption ids (into the distinct captions) of item `i`.
    func captions(of i: Int) -> ArraySlice<Int> { captionIDs[captionStart[i]..<captionStart[i + 1]] }

    /// Hidden states of distinct caption `c` (unpadded; every token real).
    func text(_ c: Int) -> TextEmbedding {
        let a = textStart[c], b = textStart[c + 1]
        return TextEmbedding(tokenIDs: [Int32](repeating: 0, count: b - a), hidden: Array(hidden[(a * dim)..<(b * dim)]), dim: dim,
                             mask: [Float](repeating: 1, count: b - a), pooled: [])
    }

    /// Item `i`'s token grid as ids.
    func grid(_ i: Int) -> ArraySlice<Int32> { tokens[(i * tokensPerGrid)..<((i + 1) * tokensPerGrid)] }

    private init(url: URL, tokens: [Int32], tokensPerGrid: Int, captionStart: [Int], captionIDs: [Int], textStart: [Int], hidden: [Float], dim: Int) {
        self.url = url; self.tokens = tokens; self.tokensPerGrid = tokensPerGrid
        self.captionStart = captionStart; self.captionIDs = captionIDs; self.textStart = textStart
        self.hidden = hidden; self.dim = dim
        count = captionStart.count - 1
    }

    /// Opens the pool for `recipe`, building it first when it is not cached.
    static func open(_ recipe: BaseRecipe) throws -> BasePool {
        let emoji = try recipe.emojiDir.map { try DataSet(root: $0, split: "train") }
        let encoder = try TextEncoder(modelDirectory: recipe.textEncoder, maxTokens: recipe.model.maxTextTokens, cacheCapacity: 0)
        let tokHash = SHA256.hex(try SHA256.hashFile(recipe.tokenizer.path))
        var keyText = "scenes=\(recipe.scenes)/seed=\(recipe.sceneSeed)/size=\(recipe.imageSize)"
        keyText += "/emoji=\(emoji?.manifestHash ?? "none")/text=\(FNV1a.hex(try Data(contentsOf: recipe.textEncoder.appendingPathComponent("model.safetensors"), options: .alwaysMapped)))"
        keyText += "/max=\(recipe.model.maxTextTokens)/backend=\(Engine.backend.dtype.rawValue)"
        let url = recipe.cacheDir.appendingPathComponent("pool-\(tokHash.prefix(16))-\(FNV1a.hex(keyText.utf8)).safetensors")
        if FileManager.default.fileExists(atPath: url.path) {
            do { return try read(url, dim: encoder.dim) } catch {
                log("warning: \(error); rebuilding the pool")
            }
        }
        return try build(recipe, emoji: emoji, encoder: encoder, url: url)
    }

    private static func read(_ url: URL, dim: Int) throws -> BasePool {
        let f = try SafeTensorsFile(url)
        let t = try f.entry("tokens")
        guard t.shape.count == 2 else { throw MuseError("\(url.path): tokens shape \(t.shape)") }
        let tokens = try f.ints("tokens").map { Int32(truncatingIfNeeded: $0) }
        let cs = try f.ints("caption_start").map { Int($0) }, ci = try f.ints("caption_ids").map { Int($0) }
        let ts = try f.ints("text_start").map { Int($0) }
        let h = try f.floats("hidden")
        guard cs.count == t.shape[0] + 1, cs.last == ci.count, ts.last.map({ $0 * dim }) == h.count,
              ci.allSatisfy({ $0 >= 0 && $0 < ts.count - 1 }) else {
            throw MuseError("\(url.path): inconsistent pool tensors")
        }
        return BasePool(url: url, tokens: tokens, tokensPerGrid: t.shape[1], captionStart: cs, captionIDs: ci, textStart: ts, hidden: h, dim: dim)
    }

    private static func build(_ recipe: BaseRecipe, emoji: DataSet?, encoder: TextEncoder, url: URL) throws -> BasePool {
        let started = Date()
        let tokenizer = try ImageTokenizerModel.load(contentsOf: recipe.tokenizer, parts: .encoder)
        var tokens: [Int32] = []
        var captionLists: [[String]] = []
        // Scenes: rendered in parallel chunks, tokenised a chunk at a time.
        let generator = SceneGenerator(seed: recipe.sceneSeed, split: .train), renderer = SceneRenderer()
        let chunk = 256
        var start = 0
        let progress = TerminalProgress().counter("pool: scenes", total: recipe.scenes)
        while start < recipe.scenes {
            let end = min(recipe.scenes, start + chunk)
            var images = [Image?](repeating: nil, count: end - start)
            var caps = [[String]](repeating: [], count: end - start)
            images.withUnsafeMutableBufferPointer { ip in caps.withUnsafeMutableBufferPointer { cp in
                let I = ip.baseAddress!, C = cp.baseAddress!
                Parallel.forEach(end - start) { k in
                    let s = generator.scene(start + k)
                    I[k] = renderer.render(s, size: recipe.imageSize)
                    C[k] = s.caption.variants
                }
            }}
            for part in stride(from: 0, to: images.count, by: 64) {
                let grids = try tokenizer.encode(images[part..<min(images.count, part + 64)].map { $0! })
                for g in grids { tokens.append(contentsOf: g.ids) }
            }
            captionLists.append(contentsOf: caps)
            start = end
            progress(end)
        }
        if let emoji {
            let ep = TerminalProgress().counter("pool: emoji", total: emoji.items.count)
            for part in stride(from: 0, to: emoji.items.count, by: 64) {
                let items = Array(emoji.items[part..<min(emoji.items.count, part + 64)])
                let grids = try tokenizer.encode(try items.map { try emoji.image($0, size: recipe.imageSize) })
                for g in grids { tokens.append(contentsOf: g.ids) }
                captionLists.append(contentsOf: items.map { $0.captions })
                ep(part + items.count)
            }
        }
        // Distinct captions, in order of first use.
        var index: [String: Int] = [:]
        var distinct: [String] = []
        var captionStart = [0], captionIDs: [Int] = []
        for list in captionLists {
            for c in list {
                if let i = index[c] { captionIDs.append(i) } else { index[c] = distinct.count; captionIDs.append(distinct.count); distinct.append(c) }
            }
            captionStart.append(captionIDs.count)
        }
        var truncated = 0
        encoder.warn = { _ in truncated += 1 }
        var textStart = [0]
        var hidden: [Float] = []
        let tp = TerminalProgress().counter("pool: captions", total: distinct.count)
        for part in stride(from: 0, to: distinct.count, by: 512) {
            let texts = Array(distinct[part..<min(distinct.count, part + 512)])
            for e in try encoder.encode(batch: texts) {
                hidden.append(contentsOf: e.hidden)
                textStart.append(textStart.last! + e.count)
            }
            tp(part + texts.count)
        }
        let T = tokens.count / max(1, captionLists.count)
        var w = SafeTensorsWriter()
        try w.add("tokens", ints: tokens.map { Int64($0) }, shape: [captionLists.count, T])
        try w.add("caption_start", ints: captionStart.map { Int64($0) }, shape: [captionStart.count])
        try w.add("caption_ids", ints: captionIDs.map { Int64($0) }, shape: [captionIDs.count])
        try w.add("text_start", ints: textStart.map { Int64($0) }, shape: [textStart.count])
        try w.add("hidden", hidden, shape: [textStart.last!, encoder.dim], as: .f16)
        w.metadata = ["muse.kind": "base-pool", "codebook": tokenizer.codebookName]
        try FileManager.default.createDirectory(at: recipe.cacheDir, withIntermediateDirectories: true)
        try w.write(to: url)
        log(String(format: "pool: %d images (%d scenes, %d emoji), %d distinct captions (%d truncated to %d tokens) in %.0f s -> %@",
                   captionLists.count, recipe.scenes, emoji?.items.count ?? 0, distinct.count, truncated, recipe.model.maxTextTokens,
                   Date().timeIntervalSince(started), url.path))
        // Read back what was written, so a run uses exactly what a resumed run will (F16 states).
        return try read(url, dim: encoder.dim)
    }
}

/// Held-out examples for the masked-token loss: eval-split scenes (half of them with
/// a held-out colour-shape pair) and emoji of the evaluation split, each with a fixed
/// caption and a fixed mask (rates spread evenly over (0, 1]).
struct BaseEvalSet {
    var batches: [(batch: BaseBatch, targets: [Int], selected: [Bool])] = []

    init(recipe: BaseRecipe, config: BaseTransformerConfig) throws {
        guard recipe.evalScenes + recipe.evalEmoji > 0 else { return }
        let tokenizer = try ImageTokenizerModel.load(contentsOf: recipe.tokenizer, parts: .encoder)
        let encoder = try TextEncoder(modelDirectory: recipe.textEncoder, maxTokens: config.maxTextTokens, cacheCapacity: 0)
        encoder.warn = { _ in }
        var images: [Image] = [], captions: [String] = []
        let gen = SceneGenerator(seed: recipe.evalSceneSeed, split: .eval), renderer = SceneRenderer()
        for i in 0..<recipe.evalScenes {
            let s = gen.scene(i)
            images.append(renderer.render(s, size: recipe.imageSize)); captions.append(s.caption.text)
        }
        if recipe.evalEmoji > 0, let dir = recipe.emojiDir {
            let ds = try DataSet(root: dir, split: "eval")
            for item in ds.items.prefix(recipe.evalEmoji) { images.append(try ds.image(item, size: recipe.imageSize)); captions.append(item.captions[0]) }
        }
        var rng = SeededRNG(seed: SeededRNG.derive(recipe.seed, "eval-masks"))
        let T = config.tokens
        for part in stride(from: 0, to: images.count, by: 64) {
            let end = min(images.count, part + 64)
            let grids = try tokenizer.encode(Array(images[part..<end]))
            let texts = try encoder.encode(batch: Array(captions[part..<end]))
            var targets: [Int] = [], inputs: [Int] = [], selected: [Bool] = []
            for (k, g) in grids.enumerated() {
                let rate = Double(part + k + 1) / Double(images.count)
                let masked = BaseExampleDraw.maskPositions(count: max(1, Int((rate * Double(T)).rounded(.up))), of: T, rng: &rng)
                for t in 0..<T {
                    targets.append(Int(g.ids[t]))
                    selected.append(masked.contains(t))
                    inputs.append(masked.contains(t) ? config.maskID : Int(g.ids[t]))
                }
            }
            let p = try BaseBatch.packText(texts, dim: config.textDim, maxTokens: config.maxTextTokens)
            batches.append((BaseBatch(tokens: inputs, text: p.text, textMask: p.mask, isNull: p.isNull), targets, selected))
        }
    }

    var count: Int { batches.reduce(0) { $0 + $1.batch.count } }

    /// Mean masked cross-entropy (no label smoothing) and accuracy over the set.
    func measure(_ model: BaseTransformerModel) throws -> (loss: Double, accuracy: Double) {
        var loss = 0.0, n = 0, correct = 0
        let V = model.config.codebookSize
        for b in batches {
            let logits = try model.forward(b.batch)
            let r = Losses.crossEntropy(logits: logits, targets: b.targets, selected: b.selected)
            let k = b.selected.filter { $0 }.count
            loss += Double(r.loss) * Double(k); n += k
            for i in 0..<b.selected.count where b.selected[i] {
                var best = 0, m = -Float.infinity
                for v in 0..<V where logits.data[i * V + v] > m { m = logits.data[i * V + v]; best = v }
                if best == b.targets[i] { correct += 1 }
            }
        }
        return (loss / Double(max(1, n)), Double(correct) / Double(max(1, n)))
    }
}

/// The random choices of a training example: caption variant, null prompt, masking.
enum BaseExampleDraw {
    /// `count` distinct positions out of `0..<total` (partial Fisher-Yates).
    static func maskPositions(count: Int, of total: Int, rng: inout SeededRNG) -> Set<Int> {
        var p = Array(0..<total)
        for i in 0..<min(count, total) { p.swapAt(i, i + rng.int(total - i)) }
        return Set(p.prefix(min(count, total)))
    }
}
