import Foundation

/// The one text-embedding cache: embeddings by text, for one model and its
/// settings (`fingerprint`). Used by the text encoder stage (prompts) and by
/// the training data loader (captions, through MuseData), so both keep the
/// same files with the same keys.
///
/// - Memory: an LRU of at most `capacity` entries (0: none).
/// - Disk (optional): a folder of one small safetensors file per text, named by
///   the 64-bit FNV-1a of `fingerprint`, a NUL byte and the text (16 hex digits).
///   Each file holds the *unpadded* embedding in the one text-embedding layout
///   (`TextEmbedding.safetensorsWriter()`, what `muse-run --out` writes), with
///   the text and the fingerprint in its metadata. An entry whose metadata does
///   not match (hash collision, another model) or that fails validation (damaged
///   file, padding, another width) is a miss and is rewritten by the next store.
///   A store that cannot write its file only warns: the cache is an optimisation.
/// - The fingerprint must change whenever the embeddings would (weights' content,
///   vocabulary, settings such as max_tokens); the owner computes it.
///
/// Thread-safe.
public final class TextEmbeddingCache: @unchecked Sendable {
    /// Most texts kept in memory (0: no in-memory cache).
    public let capacity: Int
    /// Folder of the on-disk cache, or nil.
    public let directory: URL?
    /// Identifies the model and settings the entries were computed with.
    public let fingerprint: String
    /// Width of the hidden states; disk entries of another width are ignored (nil: any).
    public let dim: Int?
    /// What `embeddings(_:)` encodes misses with (nil: only `lookup`/`store`).
    private let encode: (([String]) throws -> [TextEmbedding])?

    private let lock = NSLock()
    private var entries: [String: (embedding: TextEmbedding, tick: UInt64)] = [:]
    private var tick: UInt64 = 0
    private var counts = (hits: 0, misses: 0, encoded: 0)
    /// Lookups answered from memory or disk.
    public var hits: Int { lock.lock(); defer { lock.unlock() }; return counts.hits }
    /// Lookups that found nothing usable.
    public var misses: Int { lock.lock(); defer { lock.unlock() }; return counts.misses }
    /// Texts that `embeddings(_:)` had to encode.
    public var encoded: Int { lock.lock(); defer { lock.unlock() }; return counts.encoded }

    /// - Parameters:
    ///   - capacity: texts kept in memory (0: none).
    ///   - directory: folder of the disk cache (created if missing), or nil.
    ///   - fingerprint: the model and settings (see the type's description).
    ///   - dim: expected hidden width, checked on disk entries (nil: any).
    ///   - encode: encodes a batch of texts, for `embeddings(_:)`.
    public init(capacity: Int, directory: URL? = nil, fingerprint: String, dim: Int? = nil,
                encode: (([String]) throws -> [TextEmbedding])? = nil) {
        self.capacity = max(0, capacity)
        self.directory = directory
        self.fingerprint = fingerprint
        self.dim = dim
        self.encode = encode
    }

    /// Number of texts held in memory.
    public var count: Int { lock.lock(); defer { lock.unlock() }; return entries.count }

    /// Drops the in-memory entries (the disk folder is left alone).
    public func removeAll() {
        lock.lock(); defer { lock.unlock() }
        entries.removeAll()
    }

    /// The cached embedding of `text`, from memory or disk.
    public func lookup(_ text: String) -> TextEmbedding? {
        lock.lock()
        if var e = entries[text] {
            tick += 1; e.tick = tick; entries[text] = e
            counts.hits += 1
            lock.unlock()
            return e.embedding
        }
        lock.unlock()
        if let d = readDisk(text) {
            insertMemory(text, d)
            lock.lock(); counts.hits += 1; lock.unlock()
            return d
        }
        lock.lock(); counts.misses += 1; lock.unlock()
        return nil
    }

    /// Remembers `embedding` as the encoding of `text` (memory and disk).
    public func store(_ text: String, _ embedding: TextEmbedding) {
        insertMemory(text, embedding)
        writeDisk(text, embedding)
    }

    /// Embeddings of `texts` in order: hits from memory or disk; the misses
    /// (each distinct text once, sorted) encoded together with the `encode`
    /// function given at init, checked, then stored.
    public func embeddings(_ texts: [String]) throws -> [TextEmbedding] {
        guard let encode else { throw MuseError("text embedding cache: no encoder to compute misses with") }
        var found: [String: TextEmbedding] = [:]
        var missing: [String] = []
        for t in Set(texts) {
            if let e = lookup(t) { found[t] = e } else { missing.append(t) }
        }
        missing.sort()
        if !missing.isEmpty {
            let out = try encode(missing)
            guard out.count == missing.count else {
                throw MuseError("text encoder returned \(out.count) embeddings for \(missing.count) texts")
            }
            for (t, e) in zip(missing, out) {
                guard e.pooled.isEmpty || e.pooled.count == e.dim else {
                    throw MuseError("text encoder returned a pooled vector of \(e.pooled.count) values for hidden states of width \(e.dim) (text \"\(t)\")")
                }
                guard e.mask.allSatisfy({ $0 == 1 }) else {
                    throw MuseError("text encoder returned a padded embedding for \"\(t)\"; the cache holds unpadded ones (pad after lookup)")
                }
                store(t, e)
                found[t] = e
            }
            lock.lock(); counts.encoded += missing.count; lock.unlock()
        }
        return texts.map { found[$0]! }
    }

    private func insertMemory(_ text: String, _ embedding: TextEmbedding) {
        guard capacity > 0 else { return }
        lock.lock(); defer { lock.unlock() }
        tick += 1
        entries[text] = (embedding, tick)
        if entries.count > capacity {
            // Evict the least recently used eighth (amortised O(1) per insert).
            let drop = max(1, entries.count - capacity + capacity / 8)
            let oldest = entries.sorted { $0.value.tick < $1.value.tick }.prefix(drop)
            for (k, _) in oldest { entries.removeValue(forKey: k) }
        }
    }

    // MARK: - Disk

    /// The disk file of `text` (whether or not it exists), or nil without a disk cache.
    public func fileURL(_ text: String) -> URL? {
        guard let directory else { return nil }
        return directory.appendingPathComponent(FNV1a.hex((fingerprint + "\u{0}" + text).utf8) + ".safetensors")
    }

    /// The entry of `text` on disk, or nil when there is none or it is not usable:
    /// another text or model (metadata), or a damaged file (any layout or range
    /// error). Such a file counts as a miss and is rewritten by the next `store`.
    private func readDisk(_ text: String) -> TextEmbedding? {
        guard let url = fileURL(text), FileManager.default.fileExists(atPath: url.path),
              let f = try? SafeTensorsFile(url),
              f.metadata["text"] == text, f.metadata["fingerprint"] == fingerprint,
              let e = try? TextEmbedding(safetensors: f),
              e.mask.allSatisfy({ $0 == 1 }), dim == nil || (e.dim == dim && e.pooled.count == dim) else { return nil }
        return e
    }

    private func writeDisk(_ text: String, _ e: TextEmbedding) {
        guard let url = fileURL(text) else { return }
        do {
            var w = try TextEmbeddingCache.writer(e)
            w.metadata = ["text": text, "fingerprint": fingerprint]
            try w.write(to: url)
        } catch {
            FileHandle.standardError.write(Data("text embedding cache: warning: cannot write \(url.path): \(error)\n".utf8))
        }
    }

    /// `e` without its padding, in the shared text-embedding layout
    /// (`TextEmbedding.safetensorsWriter()`): what a cache entry holds.
    public static func writer(_ e: TextEmbedding) throws -> SafeTensorsWriter {
        let real = e.mask.firstIndex(of: 0) ?? e.count
        let unpadded = TextEmbedding(tokenIDs: Array(e.tokenIDs[0..<real]), hidden: Array(e.hidden[0..<(real * e.dim)]),
                                     dim: e.dim, mask: Array(e.mask[0..<real]), pooled: e.pooled)
        return try unpadded.safetensorsWriter()
    }
}
