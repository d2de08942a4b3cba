import Foundation

/// What a sampler needs to know about a masked token predictor.
public struct TokenModelInfo: Equatable, Sendable {
    /// Name of the codebook the predicted ids index (token grids carry it).
    public var codebook: String
    /// Number of codebook ids; logits have this many entries per position.
    public var vocabularySize: Int
    /// The [MASK] input id (usually `vocabularySize`).
    public var maskID: Int
    /// The token grid the model predicts.
    public var gridHeight: Int, gridWidth: Int
    /// Width of the text embeddings the model reads, and the most tokens per prompt.
    public var textWidth: Int, maxTextTokens: Int
    /// For a super-resolution model: the low-resolution grid it is conditioned on (nil: none).
    public var lowResolution: (height: Int, width: Int, codebook: String)?

    public init(codebook: String, vocabularySize: Int, maskID: Int, gridHeight: Int, gridWidth: Int,
                textWidth: Int, maxTextTokens: Int, lowResolution: (height: Int, width: Int, codebook: String)? = nil) {
        self.codebook = codebook; self.vocabularySize = vocabularySize; self.maskID = maskID
        self.gridHeight = gridHeight; self.gridWidth = gridWidth
        self.textWidth = textWidth; self.maxTextTokens = maxTextTokens; self.lowResolution = lowResolution
    }

    /// Tokens per grid.
    public var tokens: Int { gridHeight * gridWidth }

    public static func == (a: TokenModelInfo, b: TokenModelInfo) -> Bool {
        a.codebook == b.codebook && a.vocabularySize == b.vocabularySize && a.maskID == b.maskID
            && a.gridHeight == b.gridHeight && a.gridWidth == b.gridWidth && a.textWidth == b.textWidth
            && a.maxTextTokens == b.maxTextTokens && a.lowResolution?.height == b.lowResolution?.height
            && a.lowResolution?.width == b.lowResolution?.width && a.lowResolution?.codebook == b.lowResolution?.codebook
    }
}

/// What one grid is conditioned on.
public struct TokenConditioning: Sendable {
    /// The prompt's text embedding; nil is the unconditional (null) prompt of
    /// classifier-free guidance.
    public var text: TextEmbedding?
    /// The low-resolution tokens a super-resolution model reads (nil for a base model).
    public var lowResolution: TokenGrid?

    public init(text: TextEmbedding?, lowResolution: TokenGrid? = nil) {
        self.text = text; self.lowResolution = lowResolution
    }
}

/// Conditionings a model has prepared once (e.g. the text's cross-attention keys
/// and values) to be reused at every sampling step. Opaque to samplers: only the
/// model that made it can use it.
open class PreparedConditioning: @unchecked Sendable {
    /// Number of conditionings, in the order they were given.
    public let count: Int
    public init(count: Int) { self.count = count }
}

/// A masked token predictor (a base or super-resolution transformer) as samplers
/// drive it. Flows on pipeline edges as a `token_model` value, so a sampler in its
/// own plugin drives any model without linking its plugin.
///
/// Implementations must be safe to call from one thread at a time per call (they
/// may serialise internally).
public protocol TokenModel: AnyObject, Sendable {
    var info: TokenModelInfo { get }
    /// Prepares `conditionings` once for many `logits` calls. Throws on a prompt the
    /// model cannot read (too long, another width).
    func prepare(_ conditionings: [TokenConditioning]) throws -> PreparedConditioning
    /// Logits for `conditioning.count` grids: `tokens` holds `count x info.tokens` ids
    /// (row-major grids, `info.maskID` where masked); grid i is conditioned on
    /// conditioning i. Returns `count x info.tokens x info.vocabularySize` floats.
    func logits(tokens: [Int32], conditioning: PreparedConditioning) throws -> [Float]
}
