import Foundation
import MuseCore
import MuseEngine

/// `text.encode`: a prompt to per-token embeddings with the frozen
/// all-MiniLM-L6-v2 encoder (see `TextEncoder`).
final class TextEncodeStage: Stage {
    static let defaultModelDir = "../.cache/text-encoder/all-MiniLM-L6-v2"

    static let descriptor = StageDescriptor(StageSpec(
        kind: "text.encode",
        summary: "Encode a prompt with the frozen pretrained text encoder all-MiniLM-L6-v2 (uncased WordPiece + 6-layer BERT, 384 wide): per-token hidden states, key mask and the pooled sentence vector.",
        config: [
            ConfigKey("model_dir", .path, default: .string(defaultModelDir),
                      doc: "folder with model.safetensors, vocab.txt and config.json, as scripts/fetch-text-encoder.sh unpacks them (relative to the pipeline file)"),
            ConfigKey("max_tokens", .int, default: .int(32), range: 2...512,
                      doc: "most tokens per prompt, [CLS] and [SEP] included (see too_long)"),
            ConfigKey("too_long", .string, default: .string("error"), choices: ["error", "truncate"],
                      doc: "a prompt longer than max_tokens: error (say so, the default) or truncate (keep the first max_tokens - 2 word pieces, with a warning)"),
            ConfigKey("pad", .bool, default: .bool(false),
                      doc: "pad the output to max_tokens ([PAD] ids, mask 0, zero hidden rows) instead of its own length"),
            ConfigKey("cache_entries", .int, default: .int(4096), range: 0...10_000_000,
                      doc: "prompts whose embeddings are kept in memory (0: no cache)"),
            ConfigKey("cache_dir", .path, default: .string(""),
                      doc: "optional folder for an on-disk embedding cache, one safetensors file per prompt (empty: none)"),
        ],
        inputs: [PortSpec("text", .text, doc: "the prompt (empty or whitespace-only is an error)")],
        outputs: [PortSpec("embedding", .textEmbedding,
                           doc: "token ids, hidden states tokens x 384, mask (1 real, 0 padding), pooled sentence vector (mean over tokens, L2-normalised)")],
        weights: .optional
    )) { try TextEncodeStage($0) }

    let encoder: TextEncoder
    let pad: Bool
    let truncate: Bool

    init(_ c: StageConfig) throws {
        guard let dir = try c.path("model_dir") else {
            throw MuseError("config 'model_dir' is empty; give the folder scripts/fetch-text-encoder.sh unpacks (.cache/text-encoder/all-MiniLM-L6-v2)")
        }
        // Errors name the file or tensor; the host prefixes the stage's name.
        encoder = try TextEncoder.shared(modelDirectory: dir, weights: c.weights, maxTokens: try c.int("max_tokens"),
                                         cacheCapacity: try c.int("cache_entries"), cacheDirectory: try c.path("cache_dir"))
        pad = try c.bool("pad")
        truncate = try c.string("too_long") == "truncate"
    }

    func run(_ inputs: StageInputs, _ context: StageContext) throws -> [String: Value] {
        let text = try inputs.text("text")
        if !truncate {
            let t = try encoder.tokenize(text)
            if t.truncated {
                throw MuseError("the prompt is \(t.untruncatedPieces) word pieces long; this pipeline reads at most \(encoder.maxTokens - 2) (max_tokens \(encoder.maxTokens) counts [CLS] and [SEP]): shorten it, or set the stage's too_long: truncate")
            }
        }
        let e = try encoder.encode(text, padTo: pad ? encoder.maxTokens : nil)
        return ["embedding": .textEmbedding(e)]
    }
}

extension TextEncoder {
    nonisolated(unsafe) private static var instances: [String: TextEncoder] = [:]
    private static let instancesLock = NSLock()

    /// One encoder per (model folder, weights, max tokens, cache settings) in
    /// the process, so that stages of several pipelines (or A/B variants)
    /// share the weights and the embedding cache.
    public static func shared(modelDirectory: URL, weights: URL? = nil, maxTokens: Int = 32,
                              cacheCapacity: Int = 4096, cacheDirectory: URL? = nil) throws -> TextEncoder {
        let key = [modelDirectory.standardizedFileURL.path, weights?.standardizedFileURL.path ?? "",
                   String(maxTokens), String(cacheCapacity), cacheDirectory?.standardizedFileURL.path ?? ""].joined(separator: "\u{0}")
        instancesLock.lock(); defer { instancesLock.unlock() }
        if let e = instances[key] { return e }
        let e = try TextEncoder(modelDirectory: modelDirectory, weights: weights, maxTokens: maxTokens,
                                cacheCapacity: cacheCapacity, cacheDirectory: cacheDirectory)
        instances[key] = e
        return e
    }
}
