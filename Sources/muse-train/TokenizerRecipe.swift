import Foundation
import MuseCore
import MuseImageTokenizer

/// Everything a `muse-train tokenizer` run is configured with (the config file,
/// e.g. `Pipelines/train/tokenizer-64.yaml`; docs/training.md lists every key).
struct TokenizerRecipe {
    var model = TokenizerConfig()
    /// Name of the token vocabulary that the shipped weights and their token grids carry.
    var codebookName = "tokenizer-64"
    var seed: UInt64 = 1
    // data
    var emojiDir = URL(fileURLWithPath: ".cache/data/emoji")
    var emojiFraction: Float = 0.5
    var sceneSeed: UInt64 = 1000
    var imageSize = 64
    // optimisation
    var batchSize = 32
    var cropBatchSize = 64
    var cropSize = 32
    /// Random crops (of `cropSize`) are used until this many crops have been seen; full images afterwards.
    var cropImages = 0
    var lr: Float = 1e-3
    var lrFinal: Float = 1e-4
    var warmupImages = 2000
    var totalImages = 2_000_000
    var beta1: Float = 0.9, beta2: Float = 0.99
    var weightDecay: Float = 0
    var clipNorm: Float = 1
    /// Codebook entries whose usage EMA falls below this are re-initialised from the batch (codebook quantizer).
    var deadCodeUsage: Float = 0.03
    // evaluation and checkpoints
    var evalScenes = 200
    var evalSceneSeed: UInt64 = 7
    var evalEmoji = 373
    var evalEverySeconds = 900
    var checkpointEverySeconds: Double = 300

    static func load(_ url: URL) throws -> TokenizerRecipe {
        let f = try ConfigFile(url)
        var r = TokenizerRecipe()
        var m = TokenizerConfig()
        m.width = try f.int("model", "width", default: m.width, range: 1...1024)
        m.channelMultipliers = try f.ints("model", "channel_multipliers", default: m.channelMultipliers)
        m.encoderBlocks = try f.int("model", "encoder_blocks", default: m.encoderBlocks, range: 0...8)
        m.decoderBlocks = try f.int("model", "decoder_blocks", default: m.decoderBlocks, range: 0...8)
        m.groups = try f.int("model", "groups", default: m.groups, range: 1...1024)
        let q = try f.string("model", "quantizer", default: m.quantizer.rawValue)
        guard let qk = TokenizerConfig.QuantizerKind(rawValue: q) else {
            throw MuseError("\(url.path): model.quantizer '\(q)' must be one of \(TokenizerConfig.QuantizerKind.allCases.map(\.rawValue))")
        }
        m.quantizer = qk
        m.fsqLevels = try f.ints("model", "fsq_levels", default: m.fsqLevels)
        m.codebookSize = try f.int("model", "codebook_size", default: m.codebookSize, range: 2...65536)
        m.codebookDim = try f.int("model", "codebook_dim", default: m.codebookDim, range: 1...512)
        m.commitment = try f.float("model", "commitment", default: m.commitment, range: 0...100)
        try m.validate()
        r.model = m
        r.codebookName = try f.string(nil, "codebook_name", default: r.codebookName)
        r.seed = UInt64(try f.int(nil, "seed", default: Int(r.seed), range: 0...Int.max))
        r.emojiDir = try f.path("data", "emoji", default: "../../.cache/data/emoji")
        r.emojiFraction = try f.float("data", "emoji_fraction", default: r.emojiFraction, range: 0...1)
        r.sceneSeed = UInt64(try f.int("data", "scene_seed", default: Int(r.sceneSeed), range: 0...Int.max))
        r.imageSize = try f.int("data", "image_size", default: r.imageSize, range: 64...128)
        guard r.imageSize == 64 || r.imageSize == 128 else { throw MuseError("\(url.path): data.image_size must be 64 or 128") }
        r.batchSize = try f.int("training", "batch_size", default: r.batchSize, range: 1...4096)
        r.cropBatchSize = try f.int("training", "crop_batch_size", default: r.cropBatchSize, range: 1...4096)
        r.cropSize = try f.int("training", "crop_size", default: r.cropSize, range: 8...128)
        r.cropImages = try f.int("training", "crop_images", default: r.cropImages, range: 0...Int(Int32.max))
        r.lr = try f.float("training", "lr", default: r.lr, range: 0...1)
        r.lrFinal = try f.float("training", "lr_final", default: r.lrFinal, range: 0...1)
        r.warmupImages = try f.int("training", "warmup_images", default: r.warmupImages, range: 0...Int(Int32.max))
        r.totalImages = try f.int("training", "total_images", default: r.totalImages, range: 1...Int(Int32.max))
        r.beta1 = try f.float("training", "beta1", default: r.beta1, range: 0...0.9999)
        r.beta2 = try f.float("training", "beta2", default: r.beta2, range: 0...0.9999)
        r.weightDecay = try f.float("training", "weight_decay", default: r.weightDecay, range: 0...1)
        r.clipNorm = try f.float("training", "clip_norm", default: r.clipNorm, range: 0...1e6)
        r.deadCodeUsage = try f.float("training", "dead_code_usage", default: r.deadCodeUsage, range: 0...1e6)
        r.evalScenes = try f.int("eval", "scenes", default: r.evalScenes, range: 0...100_000)
        r.evalSceneSeed = UInt64(try f.int("eval", "scene_seed", default: Int(r.evalSceneSeed), range: 0...Int.max))
        r.evalEmoji = try f.int("eval", "emoji", default: r.evalEmoji, range: 0...100_000)
        r.evalEverySeconds = try f.int("eval", "every_seconds", default: r.evalEverySeconds, range: 1...86400)
        r.checkpointEverySeconds = Double(try f.float(nil, "checkpoint_every_seconds", default: Float(r.checkpointEverySeconds), range: 1...86400))
        guard r.cropSize % m.downsampling == 0, r.cropSize <= r.imageSize else {
            throw MuseError("\(url.path): training.crop_size \(r.cropSize) must be a multiple of \(m.downsampling) and at most the image size")
        }
        try f.finish()
        return r
    }

    /// Learning rate after `images` training images: linear warmup, then cosine to `lrFinal` at `totalImages`.
    func learningRate(images: Int) -> Float {
        if images < warmupImages { return lr * Float(images + 1) / Float(max(1, warmupImages)) }
        let p = min(1, Double(images - warmupImages) / Double(max(1, totalImages - warmupImages)))
        return lrFinal + (lr - lrFinal) * Float(0.5 * (1 + cos(Double.pi * p)))
    }
}
