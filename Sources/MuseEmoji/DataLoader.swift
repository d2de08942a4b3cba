import Foundation
import MuseCore

/// An image tokenizer (VQ encoder) as the loader sees it; a later stage provides it.
public protocol ImageTokenizing {
    /// The weights file: its SHA-256 keys the token cache, so new weights never reuse stale tokens.
    var weightsFile: URL { get }
    /// Token grids for `images` (all of the same size).
    func encode(_ images: [Image]) throws -> [TokenGrid]
}

/// A text encoder as the loader sees it; a later stage provides it.
public protocol TextEncoding {
    /// The weights file: its SHA-256 keys the embedding cache.
    var weightsFile: URL { get }
    /// Every setting that changes the embeddings (e.g. `max_tokens=32 pad=true`):
    /// also part of the embedding cache's key.
    var settings: String { get }
    func encode(_ texts: [String]) throws -> [TextEmbedding]
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
///   carries pre-tokenised grids; with a `TextEmbeddingCache`, the captions' embeddings.
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

/// Token grids of every item of a data set at one size, computed once per tokenizer
/// and stored in `DIR/tokens-<weights>-<manifest>-<items>-<size>.safetensors`, where
/// `<weights>` and `<manifest>` are the first 16 hex digits of the SHA-256 of the
/// tokenizer's weights file and of the data set's manifest, and `<items>` the FNV-1a
/// of the item list (manifest positions), so each split has its own file. The file
/// holds `ids` (I64, [items, height, width]) and metadata (codebook, full hashes, size).
/// A file that does not match (shape, id range) is rebuilt.
public final class TokenCache {
    public let url: URL
    public let height: Int, width: Int, codebook: String
    private let ids: [Int32]

    /// Opens the cache for (`dataset`, `size`, `tokenizer`), tokenising the whole data set
    /// (in chunks of `chunk` images) if it is not there yet or is unusable.
    public init(directory: URL, dataset: DataSet, size: Int, tokenizer: ImageTokenizing, chunk: Int = 64,
                progress: ((Int, Int) -> Void)? = nil) throws {
        let weightsHash = SHA256.hex(try SHA256.hashFile(tokenizer.weightsFile.path))
        let itemsHash = FNV1a.hex(dataset.items.map { String($0.index) }.joined(separator: ",").utf8)
        url = directory.appendingPathComponent("tokens-\(weightsHash.prefix(16))-\(dataset.manifestHash.prefix(16))-\(itemsHash)-\(size).safetensors")
        if FileManager.default.fileExists(atPath: url.path) {
            do {
                let f = try SafeTensorsFile(url)
                let e = try f.entry("ids")
                guard e.shape.count == 3, e.shape[0] == dataset.items.count, e.shape[1] > 0, e.shape[2] > 0 else {
                    throw MuseError("\(url.path): token cache shape \(e.shape) does not match \(dataset.items.count) items")
                }
                let stored = try f.ints("ids")
                guard stored.allSatisfy({ $0 >= 0 && $0 <= Int64(Int32.max) }) else {
                    throw MuseError("\(url.path): token cache holds ids outside 0...\(Int32.max)")
                }
                ids = stored.map { Int32($0) }; height = e.shape[1]; width = e.shape[2]
                codebook = f.metadata["codebook"] ?? ""
                return
            } catch {
                FileHandle.standardError.write(Data("data loader: warning: \(error); rebuilding the token cache\n".utf8))
            }
        }
        var all: [Int32] = []
        var h = 0, w = 0, book = ""
        var start = 0
        while start < dataset.items.count {
            let end = min(dataset.items.count, start + chunk)
            let images = try dataset.items[start..<end].map { try dataset.image($0, size: size) }
            let grids = try tokenizer.encode(images)
            guard grids.count == images.count else { throw MuseError("tokenizer returned \(grids.count) grids for \(images.count) images") }
            for g in grids {
                if h == 0 { h = g.height; w = g.width; book = g.codebook }
                guard g.height == h, g.width == w else { throw MuseError("tokenizer returned grids of different shapes") }
                all.append(contentsOf: g.ids)
            }
            start = end
            progress?(end, dataset.items.count)
        }
        var writer = SafeTensorsWriter()
        try writer.add("ids", ints: all.map { Int64($0) }, shape: [dataset.items.count, h, w])
        writer.metadata = ["codebook": book, "tokenizer_sha256": weightsHash, "manifest_sha256": dataset.manifestHash,
                           "items_fnv1a": itemsHash, "size": "\(size)"]
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try writer.write(to: url)
        ids = all; height = h; width = w; codebook = book
    }

    /// The grid of item `item` (index into `DataSet.items`).
    public func tokens(item: Int) throws -> TokenGrid {
        let n = height * width
        guard item >= 0, (item + 1) * n <= ids.count else { throw MuseError("\(url.path): no tokens for item \(item)") }
        return TokenGrid(ids: Array(ids[(item * n)..<((item + 1) * n)]), height: height, width: width, codebook: codebook)
    }
}

/// Text embeddings per caption, computed once per text encoder and kept in memory and in
/// `DIR/text-<weights>-<settings>/<caption>.safetensors` (`<weights>`: 16 hex digits of the
/// SHA-256 of the encoder's weights file; `<settings>`: FNV-1a of `TextEncoding.settings`;
/// `<caption>`: 32 hex digits of the caption's SHA-256). Each file holds the embedding in
/// the one text-embedding layout (`TextEmbedding.safetensorsWriter()`) and the caption and
/// settings in its metadata. A file that does not match or fails validation is a miss and
/// is rewritten.
public final class TextEmbeddingCache {
    public let directory: URL
    let encoder: TextEncoding
    private var memory: [String: TextEmbedding] = [:]
    /// Captions encoded by the encoder (not found in memory or on disk) so far.
    public private(set) var encoded = 0

    public init(directory: URL, encoder: TextEncoding) throws {
        let h = SHA256.hex(try SHA256.hashFile(encoder.weightsFile.path))
        let settings = FNV1a.hex(encoder.settings.utf8)
        self.directory = directory.appendingPathComponent("text-\(h.prefix(16))-\(settings)")
        self.encoder = encoder
        try FileManager.default.createDirectory(at: self.directory, withIntermediateDirectories: true)
    }

    func fileURL(_ caption: String) -> URL {
        directory.appendingPathComponent("\(SHA256.hex(SHA256.hash(caption)).prefix(32)).safetensors")
    }

    /// The stored embedding of `caption`, or nil when there is no usable file.
    private func readDisk(_ caption: String) -> TextEmbedding? {
        let u = fileURL(caption)
        guard FileManager.default.fileExists(atPath: u.path), let f = try? SafeTensorsFile(u),
              f.metadata["caption"] == caption, f.metadata["settings"] == encoder.settings else { return nil }
        return try? TextEmbedding(safetensors: f)
    }

    /// Embeddings of `captions` (misses are encoded together, then stored).
    public func embeddings(_ captions: [String]) throws -> [TextEmbedding] {
        var missing: [String] = []
        for c in Set(captions) where memory[c] == nil {
            if let e = readDisk(c) { memory[c] = e } else { missing.append(c) }
        }
        missing.sort()
        if !missing.isEmpty {
            let out = try encoder.encode(missing)
            guard out.count == missing.count else { throw MuseError("text encoder returned \(out.count) embeddings for \(missing.count) captions") }
            for (c, e) in zip(missing, out) {
                guard e.pooled.isEmpty || e.pooled.count == e.dim else {
                    throw MuseError("text encoder returned a pooled vector of \(e.pooled.count) values for hidden states of width \(e.dim) (caption \"\(c)\")")
                }
                var w = try e.safetensorsWriter()
                w.metadata = ["caption": c, "settings": encoder.settings]
                try w.write(to: fileURL(c))
                memory[c] = e
            }
            encoded += missing.count
        }
        return captions.map { memory[$0]! }
    }
}
