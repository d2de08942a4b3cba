import Foundation
import MuseCore

/// An image tokenizer (VQ encoder) as the loader sees it; a later stage provides it.
public protocol ImageTokenizing {
    /// The weights file: its SHA-256 keys the token cache, so new weights never reuse stale tokens.
    var weightsFile: URL { get }
    /// Token grids for `images` (all of the same size).
    func encode(_ images: [Image]) throws -> [TokenGrid]
}


/// Where the loader is: enough to resume a training run exactly.
public struct LoaderState: Codable, Equatable, Sendable {
    /// Epochs completed.
    public var epoch: Int
    /// Items of the current epoch already served.
    public var position: Int
    /// State of the generator that picks caption variants (`SeededRNG.stateWords`).
    public var captionRNG: [UInt64]
}

/// One batch: item indices (into `DataSet.items`), the caption drawn for each, and
/// whichever of images / token grids / text embeddings the loader was asked for.
public struct Batch {
    public var items: [Int]
    public var captions: [String]
    public var images: [Image]?
    public var tokens: [TokenGrid]?
    public var embeddings: [TextEmbedding]?
}

/// Shuffled, seeded, batched access to a data set for training.
///
/// - Order: epoch `e` visits the items in the permutation drawn by Fisher-Yates from
///   `SeededRNG(seed: SeededRNG.derive(seed, "order/e"))`: a function of (seed, epoch)
///   only, so resuming needs just (epoch, position).
/// - Captions: each use of an item draws one of its caption variants uniformly with a
///   separate generator (`derive(seed, "captions")`) whose state is saved.
/// - Batches: `batchSize` items; the last, short batch of an epoch is dropped when
///   `dropLast` (every batch then has the same shape), else served.
/// - Images come from the PNGs (`size` 128 or 64); with a `TokenCache` the batch also
///   carries pre-tokenised grids; with a `TextEmbeddingCache` (made for a `TextEncoding`,
///   see `TextEmbeddingCache(directory:encoder:)`), the captions' embeddings.
public struct DataLoader {
    public let dataset: DataSet
    public let batchSize: Int
    public let seed: UInt64
    public let size: Int
    public let dropLast: Bool
    public var loadImages = true
    public var tokenCache: TokenCache?
    public var textCache: TextEmbeddingCache?
    public private(set) var state: LoaderState
    private var order: [Int] = []
    private var orderEpoch = -1

    public init(dataset: DataSet, batchSize: Int, seed: UInt64, size: Int = 64, dropLast: Bool = true,
                resume: LoaderState? = nil) throws {
        guard batchSize > 0 else { throw MuseError("data loader: batch size must be positive") }
        guard size == 128 || size == 64 else { throw MuseError("data loader: image size must be 128 or 64, not \(size)") }
        guard dataset.items.count >= (dropLast ? batchSize : 1) else {
            throw MuseError("data loader: \(dataset.root.path) has \(dataset.items.count) items, fewer than one batch of \(batchSize)")
        }
        if let r = resume {
            guard r.epoch >= 0, r.position >= 0, r.position <= dataset.items.count else {
                throw MuseError("data loader: resume state for \(dataset.root.path) has epoch \(r.epoch), position \(r.position); expected epoch >= 0 and position in 0...\(dataset.items.count) (a state saved for another data set or split?)")
            }
            guard r.captionRNG.count == 4, r.captionRNG.contains(where: { $0 != 0 }) else {
                throw MuseError("data loader: resume state for \(dataset.root.path) has caption generator state \(r.captionRNG); expected 4 words, not all zero")
            }
        }
        self.dataset = dataset; self.batchSize = batchSize; self.seed = seed; self.size = size; self.dropLast = dropLast
        state = resume ?? LoaderState(epoch: 0, position: 0,
                                      captionRNG: SeededRNG(seed: SeededRNG.derive(seed, "captions")).stateWords)
    }

    /// Batches per epoch.
    public var batchesPerEpoch: Int {
        dropLast ? dataset.items.count / batchSize : (dataset.items.count + batchSize - 1) / batchSize
    }

    /// The item order of `epoch`.
    public func permutation(epoch: Int) -> [Int] {
        var rng = SeededRNG(seed: SeededRNG.derive(seed, "order/\(epoch)"))
        var p = Array(0..<dataset.items.count)
        rng.shuffle(&p)
        return p
    }

    /// The next batch's items and captions, advancing the state (no file is read).
    public mutating func nextIndices() -> (items: [Int], captions: [String]) {
        let n = dataset.items.count
        let remaining = n - state.position
        if remaining == 0 || (dropLast && remaining < batchSize) { state.epoch += 1; state.position = 0 }
        if orderEpoch != state.epoch { order = permutation(epoch: state.epoch); orderEpoch = state.epoch }
        let end = min(n, state.position + batchSize)
        let idx = Array(order[state.position..<end])
        state.position = end
        var rng = SeededRNG(stateWords: state.captionRNG)
        let caps = idx.map { i -> String in let c = dataset.items[i].captions; return c[rng.int(c.count)] }
        state.captionRNG = rng.stateWords
        return (idx, caps)
    }

    /// The next batch (images, tokens and embeddings as configured).
    public mutating func nextBatch() throws -> Batch {
        let (idx, caps) = nextIndices()
        var b = Batch(items: idx, captions: caps, images: nil, tokens: nil, embeddings: nil)
        if loadImages { b.images = try idx.map { try dataset.image(dataset.items[$0], size: size) } }
        if let t = tokenCache { b.tokens = try idx.map { try t.tokens(item: $0) } }
        if let t = textCache { b.embeddings = try t.embeddings(caps) }
        return b
    }
}
