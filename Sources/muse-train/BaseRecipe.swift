import Foundation
import MuseCore
import MuseBaseTransformer
import MuseEngine

/// How the masking rate r of a training example is drawn from u ~ U(0, 1).
enum MaskingSchedule: String, CaseIterable {
    /// r = cos(pi/2 u) (the paper's choice: density 2/pi (1 - r^2)^-1/2, mean 0.64).
    case cosine
    /// r = (2/pi) arccos(u) (MaskGIT's arccos schedule: more examples with most tokens masked).
    case arccos

    func rate(_ u: Double) -> Double {
        switch self {
        case .cosine: return cos(Double.pi / 2 * u)
        case .arccos: return 2 / Double.pi * acos(u)
        }
    }
}

/// Everything `muse-train base` reads from its config file (Pipelines/train/base-64.yaml;
/// keys: docs/training.md).
struct BaseRecipe {
    var model = BaseTransformerConfig()
    var seed: UInt64 = 1
    var checkpointEverySeconds = 300.0
    /// Image tokenizer weights: its SHA-256 keys the token cache (changing it means a new run).
    var tokenizer = URL(fileURLWithPath: "Weights/tokenizer-64.safetensors")
    /// Unpacked all-MiniLM-L6-v2 folder (scripts/fetch-text-encoder.sh).
    var textEncoder = URL(fileURLWithPath: ".cache/text-encoder/all-MiniLM-L6-v2")
    /// Folder of the token + text-state pool.
    var cacheDir = URL(fileURLWithPath: ".cache/base-data")
    /// Training scenes (training colour-shape pairs only) in the pool, and their seed.
    var scenes = 64_000
    var sceneSeed: UInt64 = 1
    /// Emoji data set (muse-data emoji); its training split joins the pool (nil: none).
    var emojiDir: URL?
    var imageSize = 64
    var batchSize = 256
    /// Examples per forward/backward pass (gradient accumulation inside a batch).
    var microBatch = 64
    var lr: Float = 1e-3
    var lrFinal: Float = 1e-5
    var warmupSteps = 500
    var totalSteps = 4000
    var beta1: Float = 0.9
    var beta2: Float = 0.96
    var weightDecay: Float = 0.045
    var clipNorm: Float = 1.0
    var labelSmoothing: Float = 0.1
    /// Fraction of examples trained with the null prompt (classifier-free guidance).
    var nullFraction: Float = 0.1
    var masking = MaskingSchedule.cosine
    /// Held-out masked-token evaluation: eval-split scenes (held-out pairs included) and emoji.
    var evalScenes = 400
    var evalSceneSeed: UInt64 = 7
    var evalEmoji = 200
    var evalEverySeconds = 900
    /// F16 weight snapshots kept in the run folder for the checkpoint EMA.
    var snapshotsKept = 8

    static func load(_ url: URL) throws -> BaseRecipe {
        let f = try ConfigFile(url)
        var r = BaseRecipe()
        var m = BaseTransformerConfig()
        m.width = try f.int("model", "width", default: m.width, range: 8...4096)
        m.depth = try f.int("model", "depth", default: m.depth, range: 1...64)
        m.heads = try f.int("model", "heads", default: m.heads, range: 1...256)
        m.mlpRatio = try f.int("model", "mlp_ratio", default: m.mlpRatio, range: 1...16)
        m.maxTextTokens = try f.int("model", "max_text_tokens", default: m.maxTextTokens, range: 2...512)
        r.seed = UInt64(try f.int(nil, "seed", default: Int(r.seed), range: 0...Int.max))
        r.checkpointEverySeconds = Double(try f.float(nil, "checkpoint_every_seconds", default: Float(r.checkpointEverySeconds), range: 1...86400))
        r.tokenizer = try f.path("data", "tokenizer", default: "../../Weights/tokenizer-64.safetensors")
        r.textEncoder = try f.path("data", "text_encoder", default: "../../.cache/text-encoder/all-MiniLM-L6-v2")
        r.cacheDir = try f.path("data", "cache", default: "../../.cache/base-data")
        r.scenes = try f.int("data", "scenes", default: r.scenes, range: 0...10_000_000)
        r.sceneSeed = UInt64(try f.int("data", "scene_seed", default: Int(r.sceneSeed), range: 0...Int.max))
        let emoji = try f.string("data", "emoji", default: "../../.cache/data/emoji")
        r.emojiDir = emoji.isEmpty ? nil : (emoji.hasPrefix("/") ? URL(fileURLWithPath: emoji) : f.directory.appendingPathComponent(emoji).standardizedFileURL)
        r.imageSize = try f.int("data", "image_size", default: r.imageSize, range: 64...128)
        guard r.imageSize == 64 || r.imageSize == 128 else { throw MuseError("\(url.path): data.image_size must be 64 or 128") }
        r.batchSize = try f.int("training", "batch_size", default: r.batchSize, range: 1...65536)
        r.microBatch = try f.int("training", "micro_batch", default: r.microBatch, range: 1...65536)
        r.lr = try f.float("training", "lr", default: r.lr, range: 0...1)
        r.lrFinal = try f.float("training", "lr_final", default: r.lrFinal, range: 0...1)
        r.warmupSteps = try f.int("training", "warmup_steps", default: r.warmupSteps, range: 0...Int(Int32.max))
        r.totalSteps = try f.int("training", "total_steps", default: r.totalSteps, range: 1...Int(Int32.max))
        r.beta1 = try f.float("training", "beta1", default: r.beta1, range: 0...0.9999)
        r.beta2 = try f.float("training", "beta2", default: r.beta2, range: 0...0.9999)
        r.weightDecay = try f.float("training", "weight_decay", default: r.weightDecay, range: 0...1)
        r.clipNorm = try f.float("training", "clip_norm", default: r.clipNorm, range: 0...1e6)
        r.labelSmoothing = try f.float("training", "label_smoothing", default: r.labelSmoothing, range: 0...0.99)
        r.nullFraction = try f.float("training", "null_prompt_fraction", default: r.nullFraction, range: 0...1)
        let masking = try f.string("training", "masking", default: r.masking.rawValue)
        guard let ms = MaskingSchedule(rawValue: masking) else {
            throw MuseError("\(url.path): training.masking '\(masking)' must be one of \(MaskingSchedule.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        r.masking = ms
        r.snapshotsKept = try f.int("training", "snapshots_kept", default: r.snapshotsKept, range: 0...1000)
        r.evalScenes = try f.int("eval", "scenes", default: r.evalScenes, range: 0...100_000)
        r.evalSceneSeed = UInt64(try f.int("eval", "scene_seed", default: Int(r.evalSceneSeed), range: 0...Int.max))
        r.evalEmoji = try f.int("eval", "emoji", default: r.evalEmoji, range: 0...100_000)
        r.evalEverySeconds = try f.int("eval", "every_seconds", default: r.evalEverySeconds, range: 1...86400)
        try f.finish()
        m.gridHeight = r.imageSize / 8; m.gridWidth = r.imageSize / 8
        do { try m.validate() } catch let e as MuseError { throw MuseError("\(url.path): \(e.message)") }
        r.model = m
        guard r.scenes > 0 || r.emojiDir != nil else { throw MuseError("\(url.path): the pool is empty (data.scenes is 0 and no data.emoji)") }
        return r
    }

    /// Learning rate after `step` optimizer steps: linear warmup, then cosine to `lrFinal` at `totalSteps`.
    func learningRate(step: Int) -> Float {
        WarmupCosineSchedule(peak: lr, warmupSteps: warmupSteps, totalSteps: totalSteps, final: lrFinal).lr(step: step)
    }
}
