import Foundation
import MuseCore

/// The architecture of an image tokenizer: everything needed to rebuild the
/// network before loading weights. Stored as JSON in the weights file's
/// metadata (`muse.tokenizer`), so a weights file says what it is.
public struct TokenizerConfig: Codable, Equatable, Sendable {
    /// Which quantizer sits between encoder and decoder.
    public enum QuantizerKind: String, Codable, Sendable, CaseIterable {
        /// Finite scalar quantization: `fsqLevels` bounded channels, implicit codebook.
        case fsq
        /// Learned codebook of `codebookSize` l2-normalised entries with cosine lookup.
        case codebook
    }

    /// Channels of the first level; level `i` has `width * channelMultipliers[i]`.
    public var width: Int = 32
    /// One entry per resolution level; the image is halved between levels, so
    /// the downsampling factor is `2^(count - 1)` (4 levels: f = 8).
    public var channelMultipliers: [Int] = [1, 2, 4, 4]
    /// Residual blocks per level in the encoder.
    public var encoderBlocks: Int = 1
    /// Residual blocks per level in the decoder.
    public var decoderBlocks: Int = 2
    /// Group-norm groups (capped at the channel count).
    public var groups: Int = 8
    public var quantizer: QuantizerKind = .fsq
    /// FSQ levels per latent channel (8x5x5x5 = 1,000 codes).
    public var fsqLevels: [Int] = [8, 5, 5, 5]
    /// Codebook entries (`.codebook`).
    public var codebookSize: Int = 1024
    /// Latent channels of the codebook quantizer (`.codebook`).
    public var codebookDim: Int = 16
    /// Commitment weight of the codebook quantizer.
    public var commitment: Float = 0.25

    public init() {}

    /// Downsampling factor: image pixels per token along each axis.
    public var downsampling: Int { 1 << (channelMultipliers.count - 1) }
    /// Channels per level.
    public var levelChannels: [Int] { channelMultipliers.map { width * $0 } }
    /// Latent channels the encoder emits and the decoder reads.
    public var latentDim: Int { quantizer == .fsq ? fsqLevels.count : codebookDim }
    /// Number of token ids.
    public var vocabularySize: Int { quantizer == .fsq ? fsqLevels.reduce(1, *) : codebookSize }

    /// Throws naming the first invalid field.
    public func validate() throws {
        guard (1...1024).contains(width) else { throw MuseError("tokenizer config: width \(width) must be in 1...1024") }
        guard (1...6).contains(channelMultipliers.count), channelMultipliers.allSatisfy({ (1...64).contains($0) }) else {
            throw MuseError("tokenizer config: channel_multipliers \(channelMultipliers) must have 1 to 6 entries in 1...64")
        }
        guard (0...8).contains(encoderBlocks), (0...8).contains(decoderBlocks) else {
            throw MuseError("tokenizer config: encoder_blocks and decoder_blocks must be in 0...8")
        }
        guard groups >= 1, levelChannels.allSatisfy({ $0 % min(groups, $0) == 0 }) else {
            throw MuseError("tokenizer config: groups \(groups) must divide every level's channels \(levelChannels)")
        }
        switch quantizer {
        case .fsq:
            guard (1...8).contains(fsqLevels.count), fsqLevels.allSatisfy({ (2...64).contains($0) }),
                  fsqLevels.reduce(1, *) <= 1 << 20 else {
                throw MuseError("tokenizer config: fsq_levels \(fsqLevels) must have 1 to 8 entries in 2...64 and at most 2^20 codes")
            }
        case .codebook:
            guard (2...65536).contains(codebookSize), (1...512).contains(codebookDim) else {
                throw MuseError("tokenizer config: codebook_size must be in 2...65536 and codebook_dim in 1...512")
            }
            guard commitment >= 0 && commitment.isFinite else { throw MuseError("tokenizer config: commitment must be >= 0") }
        }
    }

    /// The config as one line of JSON (sorted keys).
    public func json() -> String {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        e.keyEncodingStrategy = .convertToSnakeCase
        return String(decoding: try! e.encode(self), as: UTF8.self)
    }

    /// Parses `json()` output; unknown or missing keys are errors.
    public static func parse(json: String, source: String) throws -> TokenizerConfig {
        let d = JSONDecoder()
        d.keyDecodingStrategy = .convertFromSnakeCase
        let config: TokenizerConfig
        do {
            config = try d.decode(TokenizerConfig.self, from: Data(json.utf8))
        } catch {
            throw MuseError("\(source): tokenizer config in metadata 'muse.tokenizer' is not valid (\(error))")
        }
        // The decoder ignores keys it does not know: a newer architecture must not load as this one.
        let given = (try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])?.keys.map { $0 } ?? []
        let known = Set(((try? JSONSerialization.jsonObject(with: Data(config.json().utf8)) as? [String: Any]) ?? [:]).keys)
        if let unknown = given.sorted().first(where: { !known.contains($0) }) {
            throw MuseError("\(source): tokenizer config in metadata 'muse.tokenizer' has unknown key '\(unknown)' (weights of a newer or another architecture?)")
        }
        try config.validate()
        return config
    }
}
