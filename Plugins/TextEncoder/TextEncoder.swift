import Foundation
import MuseCore
import MuseEngine

/// The frozen pretrained text encoder: all-MiniLM-L6-v2 (uncased WordPiece +
/// 6-layer BERT), usable as a library from training code and behind the
/// `text.encode` stage.
///
///     let enc = try TextEncoder(modelDirectory: dir, maxTokens: 32)
///     let e = try enc.encode("three blue stars on a light blue background")
///     // e.tokenIDs [T], e.hidden [T x 384], e.mask [T] (all 1), e.pooled [384]
///     let many = try enc.encode(batch: captions)        // padded batches, cached
///
/// Outputs match the reference (`transformers` BertModel `last_hidden_state`,
/// and sentence-transformers' mean-pooled, L2-normalised sentence vector) on
/// the same files. Embeddings are cached by prompt text (MuseCore's `TextEmbeddingCache`).
/// Thread-safe (forward passes are serialised; each uses both cores).
public final class TextEncoder: @unchecked Sendable {
    public let modelDirectory: URL
    public let tokenizer: BertTokenizer
    public let model: BertModel
    /// Most tokens per prompt, `[CLS]` and `[SEP]` included.
    public let maxTokens: Int
    public let cache: TextEmbeddingCache
    /// Prompts per forward pass in `encode(batch:)`.
    public var batchSize = 64
    /// Where truncation warnings go (default: standard error).
    public var warn: (String) -> Void = { FileHandle.standardError.write(Data(("text encoder: warning: " + $0 + "\n").utf8)) }

    private let forwardLock = NSLock()

    /// Width of the hidden states (384).
    public var dim: Int { model.config.hiddenSize }

    /// Loads the tokenizer and weights from an unpacked all-MiniLM-L6-v2 folder.
    ///
    /// - Parameters:
    ///   - modelDirectory: folder with `vocab.txt`, `config.json`, `model.safetensors`
    ///     (what scripts/fetch-text-encoder.sh unpacks).
    ///   - weights: another safetensors file to read the weights from (default:
    ///     `modelDirectory/model.safetensors`).
    ///   - maxTokens: most tokens per prompt including `[CLS]`/`[SEP]`; longer
    ///     prompts are truncated with a warning (2...512).
    ///   - cacheCapacity: prompts kept in the in-memory cache (0: none).
    ///   - cacheDirectory: optional folder for an on-disk cache.
    ///   - backend: runs the model's GEMMs (default: the process default, `Engine.backend`).
    public init(modelDirectory: URL, weights: URL? = nil, maxTokens: Int = 32,
                cacheCapacity: Int = 4096, cacheDirectory: URL? = nil, backend: ComputeBackend = Engine.backend) throws {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: modelDirectory.path, isDirectory: &isDir), isDir.boolValue else {
            throw MuseError("text encoder: model folder not found: \(modelDirectory.path) (run scripts/fetch-text-encoder.sh to fetch all-MiniLM-L6-v2)")
        }
        self.modelDirectory = modelDirectory
        tokenizer = try BertTokenizer(vocabularyURL: modelDirectory.appendingPathComponent("vocab.txt"))
        let config = try BertConfig(contentsOf: modelDirectory.appendingPathComponent("config.json"))
        guard tokenizer.vocabulary.count == config.vocabSize else {
            throw MuseError("text encoder: vocab.txt has \(tokenizer.vocabulary.count) tokens but config.json says vocab_size \(config.vocabSize)")
        }
        guard maxTokens >= 2, maxTokens <= config.maxPositions else {
            throw MuseError("text encoder: max_tokens \(maxTokens) is outside 2...\(config.maxPositions)")
        }
        self.maxTokens = maxTokens
        let weightsURL = weights ?? modelDirectory.appendingPathComponent("model.safetensors")
        _ = try BertModel.openWeights(weightsURL, config: config)   // fail fast, naming the tensor
        model = BertModel(config: config, backend: backend)
        try model.load(weights: weightsURL)
        // What cached embeddings on disk depend on: the weights' content, the vocabulary,
        // the config, the backend's arithmetic (bf16 results differ from fp32) and
        // max_tokens (the cache holds unpadded embeddings; padding is
        // applied after lookup, so it is not part of the key). Hashing the 91 MB of
        // weights costs start-up time, so it is done only when there is a disk cache.
        var fingerprint = "in-memory"
        if let cacheDirectory {
            let files = ["weights": weightsURL, "vocab": modelDirectory.appendingPathComponent("vocab.txt"),
                         "config": modelDirectory.appendingPathComponent("config.json")]
            fingerprint = "all-MiniLM-L6-v2"
            for key in ["weights", "vocab", "config"] { fingerprint += "/\(key)-\(try TextEncoder.contentHash(files[key]!))" }
            fingerprint += "/\(backend.dtype.rawValue)/max\(maxTokens)"
            do { try FileManager.default.createDirectory(at: cacheDirectory, withIntermediateDirectories: true) } catch {
                throw MuseError("text encoder: cannot create the cache folder \(cacheDirectory.path): \(error.localizedDescription)")
            }
        }
        cache = TextEmbeddingCache(capacity: cacheCapacity, directory: cacheDirectory, fingerprint: fingerprint, dim: config.hiddenSize)
    }

    /// FNV-1a of a file's bytes as 16 hex digits (memory-mapped).
    static func contentHash(_ url: URL) throws -> String {
        let data: Data
        do { data = try Data(contentsOf: url, options: .alwaysMapped) } catch {
            throw MuseError("text encoder: cannot read \(url.path): \(error.localizedDescription)")
        }
        return FNV1a.hex(data)
    }

    /// Token ids of `text` as the encoder sees them (`[CLS] ... [SEP]`,
    /// truncated to `maxTokens`). Throws on an empty prompt.
    public func tokenize(_ text: String, allowEmpty: Bool = false) throws -> TokenizedText {
        try tokenizer.encode(text, maxTokens: maxTokens, allowEmpty: allowEmpty)
    }

    /// Encodes one prompt (cached).
    ///
    /// - Parameters:
    ///   - text: the prompt; empty or whitespace-only is an error unless `allowEmpty`.
    ///   - padTo: pad the result to this many tokens (`[PAD]` ids, mask 0,
    ///     zero hidden rows); nil keeps its own length.
    ///   - allowEmpty: encode an empty prompt as `[CLS] [SEP]` (the "empty text"
    ///     of classifier-free guidance) instead of throwing.
    /// - Returns: tokens x 384 hidden states, mask, pooled vector.
    public func encode(_ text: String, padTo: Int? = nil, allowEmpty: Bool = false) throws -> TextEmbedding {
        try encode(batch: [text], padTo: padTo, allowEmpty: allowEmpty)[0]
    }

    /// Encodes many prompts: cached ones come from the cache; the rest run in
    /// padded batches of `batchSize` (sorted by length, padded keys masked).
    /// Results are in the order of `texts`.
    public func encode(batch texts: [String], padTo: Int? = nil, allowEmpty: Bool = false) throws -> [TextEmbedding] {
        if let p = padTo, p < 2 || p > maxTokens {
            throw MuseError("text encoder: padTo \(p) must be within 2...max_tokens (\(maxTokens))")
        }
        var results = [TextEmbedding?](repeating: nil, count: texts.count)
        var todo: [(index: Int, text: String, ids: [Int32])] = []
        var firstIndex: [String: Int] = [:]   // duplicates in one batch run once
        var duplicates: [(index: Int, of: Int)] = []
        for (i, t) in texts.enumerated() {
            // A cached "[CLS] [SEP]" is the empty prompt: only allowed when asked for.
            if let e = cache.lookup(t), allowEmpty || e.count > 2 { results[i] = e; continue }
            if let j = firstIndex[t] { duplicates.append((i, j)); continue }
            let tok = try tokenizer.encode(t, maxTokens: maxTokens, allowEmpty: allowEmpty)
            if tok.truncated {
                let shown = t.count > 60 ? String(t.prefix(60)) + "..." : t
                warn("prompt \"\(shown)\" has \(tok.untruncatedPieces) word pieces; truncated to max_tokens \(maxTokens) (\(maxTokens - 2) pieces + [CLS]/[SEP])")
            }
            firstIndex[t] = i
            todo.append((i, t, tok.ids))
        }
        todo.sort { $0.ids.count < $1.ids.count }
        var start = 0
        while start < todo.count {
            let chunk = Array(todo[start..<min(todo.count, start + max(1, batchSize))])
            let embeddings = try forward(chunk.map { $0.ids })
            for (item, e) in zip(chunk, embeddings) {
                cache.store(item.text, e)
                results[item.index] = e
            }
            start += chunk.count
        }
        for d in duplicates { results[d.index] = results[d.of] }
        return results.map { e in
            guard let p = padTo else { return e! }
            return TextEncoder.pad(e!, to: p, padID: tokenizer.padID)
        }
    }

    /// Runs the model on already tokenized prompts (no cache): one padded batch.
    /// Returns unpadded embeddings with pooled vectors.
    public func forward(_ ids: [[Int32]]) throws -> [TextEmbedding] {
        guard !ids.isEmpty else { return [] }
        let B = ids.count, T = ids.map(\.count).max()!, D = dim
        var flat = [Int32](repeating: tokenizer.padID, count: B * T)
        var mask = [Float](repeating: 0, count: B * T)
        for (b, row) in ids.enumerated() {
            for (t, id) in row.enumerated() { flat[b * T + t] = id; mask[b * T + t] = 1 }
        }
        forwardLock.lock()
        let hidden: Tensor
        do {
            defer { forwardLock.unlock() }
            hidden = try model.forward(ids: flat, keyMask: mask, batch: B, length: T)
        }
        var out: [TextEmbedding] = []
        out.reserveCapacity(B)
        for (b, row) in ids.enumerated() {
            let n = row.count
            let h = Array(hidden.data[(b * T * D)..<((b * T + n) * D)])
            out.append(TextEmbedding(tokenIDs: row, hidden: h, dim: D,
                                     mask: [Float](repeating: 1, count: n), pooled: TextEncoder.meanPool(h, tokens: n, dim: D)))
        }
        return out
    }

    /// sentence-transformers' sentence vector: mean of the token rows, then
    /// L2-normalised (`F.normalize`, eps 1e-12). Accumulates in Double.
    public static func meanPool(_ hidden: [Float], tokens: Int, dim: Int) -> [Float] {
        var sum = [Double](repeating: 0, count: dim)
        for t in 0..<tokens { for j in 0..<dim { sum[j] += Double(hidden[t * dim + j]) } }
        let mean = sum.map { $0 / Double(max(tokens, 1)) }
        let norm = max(mean.reduce(0) { $0 + $1 * $1 }.squareRoot(), 1e-12)
        return mean.map { Float($0 / norm) }
    }

    /// `e` padded to `length` tokens: `[PAD]` ids, mask 0, zero hidden rows.
    public static func pad(_ e: TextEmbedding, to length: Int, padID: Int32) -> TextEmbedding {
        guard e.count < length else { return e }
        let extra = length - e.count
        return TextEmbedding(tokenIDs: e.tokenIDs + [Int32](repeating: padID, count: extra),
                             hidden: e.hidden + [Float](repeating: 0, count: extra * e.dim), dim: e.dim,
                             mask: e.mask + [Float](repeating: 0, count: extra), pooled: e.pooled)
    }
}
