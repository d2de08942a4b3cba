import Foundation

/// One grid to generate: its prompt, optional negative prompt, optional starting
/// tokens with the positions to regenerate (editing), and its own seed.
public struct SamplingItem: Sendable {
    public var text: TextEmbedding?
    /// Replaces the empty prompt in the unconditional slot of guidance.
    public var negative: TextEmbedding?
    /// Starting ids (`info.tokens` of them) and which of them to regenerate; nil: generate all.
    public var initial: [Int32]?
    public var regenerate: [Bool]?
    public var seed: UInt64

    public init(text: TextEmbedding?, negative: TextEmbedding? = nil, initial: [Int32]? = nil, regenerate: [Bool]? = nil, seed: UInt64) {
        self.text = text; self.negative = negative; self.initial = initial; self.regenerate = regenerate; self.seed = seed
    }
}
