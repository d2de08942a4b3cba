import Foundation
import MuseCore

/// The architecture of a base masked transformer (paper section 2.3): everything
/// needed to rebuild the network before loading weights. Stored as JSON in the
/// weights file's metadata (`muse.base`), so a weights file says what it is.
public struct BaseTransformerConfig: Codable, Equatable, Sendable {
    /// Model width D.
    public var width: Int = 256
    /// Number of transformer blocks (self-attention, cross-attention, MLP).
    public var depth: Int = 8
    /// Attention heads (width % heads == 0).
    public var heads: Int = 4
    /// MLP hidden width = mlpRatio x width.
    public var mlpRatio: Int = 4
    /// Width of the text encoder's hidden states (MiniLM: 384).
    public var textDim: Int = 384
    /// Most text tokens a conditioning may have ([CLS] and [SEP] included).
    public var maxTextTokens: Int = 24
    /// Token grid the model predicts (8 x 8 for 64 px images with f = 8).
    public var gridHeight: Int = 8
    public var gridWidth: Int = 8
    /// Number of codebook ids; the [MASK] id is `codebookSize`.
    public var codebookSize: Int = 1000

    public init() {}

    /// Image tokens per grid.
    public var tokens: Int { gridHeight * gridWidth }
    /// The [MASK] token id (one past the codebook).
    public var maskID: Int { codebookSize }

    /// Throws naming the first invalid field.
    public func validate() throws {
        guard (8...4096).contains(width) else { throw MuseError("base transformer config: width \(width) must be in 8...4096") }
        guard (1...64).contains(depth) else { throw MuseError("base transformer config: depth \(depth) must be in 1...64") }
        guard heads >= 1, width % heads == 0 else { throw MuseError("base transformer config: heads \(heads) must divide width \(width)") }
        guard (1...16).contains(mlpRatio) else { throw MuseError("base transformer config: mlp_ratio \(mlpRatio) must be in 1...16") }
        guard (1...8192).contains(textDim) else { throw MuseError("base transformer config: text_dim \(textDim) must be in 1...8192") }
        guard (1...512).contains(maxTextTokens) else { throw MuseError("base transformer config: max_text_tokens \(maxTextTokens) must be in 1...512") }
        guard (1...128).contains(gridHeight), (1...128).contains(gridWidth) else {
            throw MuseError("base transformer config: grid \(gridHeight)x\(gridWidth) must have sides in 1...128")
        }
        guard (2...1 << 20).contains(codebookSize) else { throw MuseError("base transformer config: codebook_size \(codebookSize) must be in 2...2^20") }
    }

    /// The config as one line of JSON (sorted keys, snake case).
    public func json() -> String {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        e.keyEncodingStrategy = .convertToSnakeCase
        return String(decoding: try! e.encode(self), as: UTF8.self)
    }

    /// Parses `json()` output; unknown or missing keys are errors.
    public static func parse(json: String, source: String) throws -> BaseTransformerConfig {
        let d = JSONDecoder()
        d.keyDecodingStrategy = .convertFromSnakeCase
        let config: BaseTransformerConfig
        do {
            config = try d.decode(BaseTransformerConfig.self, from: Data(json.utf8))
        } catch {
            throw MuseError("\(source): base transformer config in metadata 'muse.base' is not valid (\(error))")
        }
        let given = (try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])?.keys.map { $0 } ?? []
        let known = Set(((try? JSONSerialization.jsonObject(with: Data(config.json().utf8)) as? [String: Any]) ?? [:]).keys)
        if let unknown = given.sorted().first(where: { !known.contains($0) }) {
            throw MuseError("\(source): base transformer config in metadata 'muse.base' has unknown key '\(unknown)' (weights of a newer or another architecture?)")
        }
        try config.validate()
        return config
    }
}
