import Foundation
import MuseCore
import MuseEngine

/// Hyper-parameters of a BERT encoder, read from the model's `config.json`.
/// all-MiniLM-L6-v2: 6 layers, width 384, 12 heads, MLP 1536, GELU (erf),
/// post-LayerNorm with eps 1e-12, 512 absolute positions, 2 token types.
public struct BertConfig: Equatable, Sendable {
    public var vocabSize = 30522
    public var hiddenSize = 384
    public var layers = 6
    public var heads = 12
    public var intermediateSize = 1536
    public var maxPositions = 512
    public var typeVocabSize = 2
    public var layerNormEps: Float = 1e-12

    public init() {}

    public var headDim: Int { hiddenSize / heads }

    /// Reads `config.json` (HuggingFace `BertConfig`); refuses what this
    /// implementation does not do (another activation, relative positions).
    public init(contentsOf url: URL) throws {
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw MuseError("text encoder: model config not found: \(url.path) (run scripts/fetch-text-encoder.sh to fetch the model)")
        }
        guard let obj = try? JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any] else {
            throw MuseError("text encoder: \(url.path) is not a JSON object")
        }
        /// A whole JSON number within `range` (defaults to `d` when absent).
        func int(_ k: String, _ d: Int, _ range: ClosedRange<Int>) throws -> Int {
            guard let v = obj[k] else { return d }
            guard let x = JSONNumber.integer(v), range.contains(x) else {
                throw MuseError("text encoder: \(url.path): '\(k)' must be a whole number in \(range.lowerBound)...\(range.upperBound), not \(v)")
            }
            return x
        }
        vocabSize = try int("vocab_size", vocabSize, BertConfig.limits.vocabSize)
        hiddenSize = try int("hidden_size", hiddenSize, BertConfig.limits.hiddenSize)
        layers = try int("num_hidden_layers", layers, BertConfig.limits.layers)
        heads = try int("num_attention_heads", heads, BertConfig.limits.heads)
        intermediateSize = try int("intermediate_size", intermediateSize, BertConfig.limits.intermediateSize)
        maxPositions = try int("max_position_embeddings", maxPositions, BertConfig.limits.maxPositions)
        typeVocabSize = try int("type_vocab_size", typeVocabSize, BertConfig.limits.typeVocabSize)
        if let v = obj["layer_norm_eps"] {
            guard let e = JSONNumber.number(v), e.doubleValue > 0, e.doubleValue < 1 else {
                throw MuseError("text encoder: \(url.path): 'layer_norm_eps' must be a number in (0, 1), not \(v)")
            }
            layerNormEps = e.floatValue
        }
        if let act = obj["hidden_act"] as? String, act != "gelu" {
            throw MuseError("text encoder: \(url.path): hidden_act '\(act)' is not supported (only 'gelu', the erf form)")
        }
        if let pos = obj["position_embedding_type"] as? String, pos != "absolute" {
            throw MuseError("text encoder: \(url.path): position_embedding_type '\(pos)' is not supported (only 'absolute')")
        }
        guard hiddenSize % heads == 0 else {
            throw MuseError("text encoder: \(url.path): 'hidden_size' \(hiddenSize) is not a multiple of 'num_attention_heads' \(heads)")
        }
    }

    /// The sizes `init(contentsOf:)` accepts: all at least 1 (2 positions: `[CLS]`
    /// and `[SEP]`), capped well above any BERT so a corrupt file cannot ask for
    /// absurd allocations.
    public static let limits = (vocabSize: 1...1_000_000, hiddenSize: 1...16_384, layers: 1...256, heads: 1...1_024,
                                intermediateSize: 1...65_536, maxPositions: 2...65_536, typeVocabSize: 1...1_024)
}

/// Word + position + token-type embeddings, then LayerNorm (HF `BertEmbeddings`).
/// Parameter names as in the checkpoint: `word_embeddings.weight`,
/// `position_embeddings.weight`, `token_type_embeddings.weight`, `LayerNorm.{weight,bias}`.
final class BertEmbeddings: Module {
    let word: Embedding, position: Embedding, tokenType: Embedding
    let norm: LayerNorm

    init(_ c: BertConfig) {
        word = Embedding(count: c.vocabSize, dim: c.hiddenSize)
        position = Embedding(count: c.maxPositions, dim: c.hiddenSize)
        tokenType = Embedding(count: c.typeVocabSize, dim: c.hiddenSize)
        norm = LayerNorm(c.hiddenSize, eps: c.layerNormEps)
    }

    var namedParameters: [(name: String, param: Parameter)] {
        nest("word_embeddings", word) + nest("position_embeddings", position)
            + nest("token_type_embeddings", tokenType) + nest("LayerNorm", norm)
    }

    /// ids: `[B, T]` flat -> `[B, T, D]`. Positions `0..<T` per row, token type 0.
    func forward(ids: [Int], batch: Int, length: Int) throws -> Tensor {
        var x = try word.forward(ids, shape: [batch, length])
        let positions = (0..<batch).flatMap { _ in Array(0..<length) }
        x.add(try position.forward(positions, shape: [batch, length]))
        x.add(try tokenType.forward([Int](repeating: 0, count: batch * length), shape: [batch, length]))
        return norm.forward(x)
    }
}

/// One post-LayerNorm transformer layer (HF `BertLayer`):
///
///     h = LayerNorm(x + Dense(SelfAttention(x, keyMask)))
///     y = LayerNorm(h + Dense(GELU(Dense(h))))
///
/// Parameter names as in the checkpoint (`attention.self.query.weight`, ...,
/// `output.LayerNorm.bias`).
final class BertLayer: Module {
    /// Q, K, V projections, attention core and output projection (`o` is
    /// the checkpoint's `attention.output.dense`).
    let attention: MultiHeadAttention
    let attentionNorm: LayerNorm
    let intermediate: Linear
    let output: Linear
    let outputNorm: LayerNorm
    let gelu = GELU(.erf)

    init(_ c: BertConfig, backend: ComputeBackend, rng: inout SeededRNG) {
        let d = c.hiddenSize
        attention = MultiHeadAttention(dim: d, heads: c.heads, backend: backend, rng: &rng)
        attentionNorm = LayerNorm(d, eps: c.layerNormEps)
        // Default (uniform) init: cheaper than normal draws; overwritten by `load`.
        intermediate = Linear(d, c.intermediateSize, backend: backend, rng: &rng)
        output = Linear(c.intermediateSize, d, backend: backend, rng: &rng)
        outputNorm = LayerNorm(d, eps: c.layerNormEps)
    }

    var namedParameters: [(name: String, param: Parameter)] {
        nest("attention.self.query", attention.q) + nest("attention.self.key", attention.k)
            + nest("attention.self.value", attention.v) + nest("attention.output.dense", attention.o)
            + nest("attention.output.LayerNorm", attentionNorm) + nest("intermediate.dense", intermediate)
            + nest("output.dense", output) + nest("output.LayerNorm", outputNorm)
    }

    /// x: `[B, T, D]`, keyMask: `[B * T]` (true: real token, false: padding) -> `[B, T, D]`.
    func forward(_ x: Tensor, keyMask: [Bool]?) -> Tensor {
        var h = attention.forward(x, keyMask: keyMask)
        h.add(x)
        let h1 = attentionNorm.forward(h)
        var y = output.forward(gelu.forward(intermediate.forward(h1)))
        y.add(h1)
        return outputNorm.forward(y)
    }
}

/// The BERT encoder of all-MiniLM-L6-v2 (HF `BertModel` without its pooler),
/// forward only, on MuseEngine's layers. Matches `BertModel(...).last_hidden_state`
/// in eval mode (no dropout), fp32.
public final class BertModel: Module {
    public let config: BertConfig
    /// The backend of every GEMM (fixed at init).
    public let backend: ComputeBackend
    let embeddings: BertEmbeddings
    let layers: [BertLayer]

    /// A model with random weights (use `load(from:)`; tests and shapes only),
    /// computing on `backend` (default: the process default, `Engine.backend`).
    public init(config: BertConfig, backend: ComputeBackend = Engine.backend) {
        self.config = config
        self.backend = backend
        var rng = SeededRNG(seed: 0)
        embeddings = BertEmbeddings(config)
        layers = (0..<config.layers).map { _ in BertLayer(config, backend: backend, rng: &rng) }
    }

    /// Parameter names exactly as in the checkpoint (`embeddings.*`, `encoder.layer.N.*`);
    /// the unused `pooler.*` and the `embeddings.position_ids` buffer are not parameters.
    public var namedParameters: [(name: String, param: Parameter)] {
        nest("embeddings", embeddings) + nest("encoder.layer", layers)
    }

    /// Reads every parameter from a safetensors file; a missing or wrong-shaped
    /// tensor is an error that names the file, the tensor and both shapes.
    public func load(weights url: URL) throws {
        let file = try BertModel.openWeights(url, config: config)
        do {
            try load(from: file)
        } catch let e as MuseError {
            throw MuseError("text encoder: \(e.message)")
        }
    }

    /// Every parameter's checkpoint name and shape for `config`, in load order
    /// (the same list as `namedParameters`; a test checks they agree).
    public static func expectedParameters(_ c: BertConfig) -> [(name: String, shape: [Int])] {
        let d = c.hiddenSize
        var p: [(name: String, shape: [Int])] = [
            ("embeddings.word_embeddings.weight", [c.vocabSize, d]),
            ("embeddings.position_embeddings.weight", [c.maxPositions, d]),
            ("embeddings.token_type_embeddings.weight", [c.typeVocabSize, d]),
            ("embeddings.LayerNorm.weight", [d]), ("embeddings.LayerNorm.bias", [d]),
        ]
        for l in 0..<c.layers {
            let pre = "encoder.layer.\(l)."
            for proj in ["query", "key", "value"] {
                p.append((pre + "attention.self.\(proj).weight", [d, d]))
                p.append((pre + "attention.self.\(proj).bias", [d]))
            }
            p += [(pre + "attention.output.dense.weight", [d, d]), (pre + "attention.output.dense.bias", [d]),
                  (pre + "attention.output.LayerNorm.weight", [d]), (pre + "attention.output.LayerNorm.bias", [d]),
                  (pre + "intermediate.dense.weight", [c.intermediateSize, d]), (pre + "intermediate.dense.bias", [c.intermediateSize]),
                  (pre + "output.dense.weight", [d, c.intermediateSize]), (pre + "output.dense.bias", [d]),
                  (pre + "output.LayerNorm.weight", [d]), (pre + "output.LayerNorm.bias", [d])]
        }
        return p
    }

    /// Opens the weights file and checks that every tensor the model needs is
    /// there with its shape, before any model memory is allocated, so a bad file
    /// fails fast with the tensor named.
    public static func openWeights(_ url: URL, config: BertConfig) throws -> SafeTensorsFile {
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw MuseError("text encoder: weights file not found: \(url.path) (run scripts/fetch-text-encoder.sh to fetch the model)")
        }
        let file: SafeTensorsFile
        do { file = try SafeTensorsFile(url) } catch let e as MuseError {
            throw MuseError("text encoder: \(e.message)")
        }
        for (name, shape) in expectedParameters(config) {
            guard let e = file.entries[name] else {
                throw MuseError("text encoder: \(url.path): missing tensor '\(name)' (expected shape \(shape))")
            }
            guard e.shape == shape else {
                throw MuseError("text encoder: \(url.path): tensor '\(name)' has shape \(e.shape), expected \(shape)")
            }
            guard e.dtype == .f32 || e.dtype == .f16 || e.dtype == .bf16 else {
                throw MuseError("text encoder: \(url.path): tensor '\(name)' is \(e.dtype.rawValue), expected a float type")
            }
        }
        return file
    }

    /// Hidden states of a padded batch.
    ///
    /// - Parameters:
    ///   - ids: `batch` rows of `length` token ids each (row-major, padding included).
    ///   - keyMask: `[batch, length]`, 1 for real tokens, 0 for padding; padded
    ///     keys get no attention (as HF's additive `finfo.min` mask).
    /// - Returns: last hidden state `[batch, length, hiddenSize]` (rows at padded
    ///   positions are computed but meaningless).
    public func forward(ids: [Int32], keyMask: [Float], batch: Int, length: Int) throws -> Tensor {
        guard ids.count == batch * length, keyMask.count == batch * length else {
            throw MuseError("text encoder: \(ids.count) ids / \(keyMask.count) mask values for a batch of \(batch) x \(length)")
        }
        guard length <= config.maxPositions else {
            throw MuseError("text encoder: \(length) tokens exceed the model's \(config.maxPositions) positions")
        }
        var x = try embeddings.forward(ids: ids.map { Int($0) }, batch: batch, length: length)
        // No mask at all when nothing is padded (a single prompt): same result, less work.
        let mask: [Bool]? = keyMask.allSatisfy { $0 != 0 } ? nil : keyMask.map { $0 != 0 }
        for layer in layers { x = layer.forward(x, keyMask: mask) }
        return x
    }
}
