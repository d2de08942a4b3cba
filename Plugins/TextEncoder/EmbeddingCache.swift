import Foundation
import MuseCore

/// Embeddings by prompt text, since training encodes the same captions many
/// times: an in-memory LRU of at most `capacity` entries and, optionally, a
/// folder of one small safetensors file per prompt that survives the process.
///
/// Disk entries are named by a 64-bit FNV-1a hash of the model fingerprint,
/// `max_tokens` and the text; each file stores the text, `max_tokens` and the
/// fingerprint in its metadata, and an entry whose metadata does not match
/// (hash collision, another model) is ignored and rewritten. Files hold
/// `input_ids` (I64 `[tokens]`), `last_hidden_state` (F32 `[tokens, dim]`),
/// `pooled` (F32 `[dim]`), the same layout `muse-run --out` writes.
/// Thread-safe.
public final class EmbeddingCache: @unchecked Sendable {
    /// Most prompts kept in memory (0: no in-memory cache).
    public let capacity: Int
    /// Folder of the on-disk cache, or nil.
    public let directory: URL?
    /// Identifies the model and settings the entries were computed with.
    public let fingerprint: String

    private let lock = NSLock()
    private var entries: [String: (embedding: TextEmbedding, tick: UInt64)] = [:]
    private var tick: UInt64 = 0
    public private(set) var hits = 0
    public private(set) var misses = 0

    public init(capacity: Int, directory: URL? = nil, fingerprint: String) {
        self.capacity = max(0, capacity)
        self.directory = directory
        self.fingerprint = fingerprint
    }

    /// Number of prompts held in memory.
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
            hits += 1
            lock.unlock()
            return e.embedding
        }
        lock.unlock()
        if let d = readDisk(text) {
            insertMemory(text, d)
            lock.lock(); hits += 1; lock.unlock()
            return d
        }
        lock.lock(); misses += 1; lock.unlock()
        return nil
    }

    /// Remembers `embedding` as the encoding of `text` (memory and disk).
    public func store(_ text: String, _ embedding: TextEmbedding) {
        insertMemory(text, embedding)
        writeDisk(text, embedding)
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

    /// 64-bit FNV-1a over bytes.
    static func fnv1a(_ bytes: some Sequence<UInt8>, seed: UInt64 = 0xcbf29ce484222325) -> UInt64 {
        var h = seed
        for b in bytes { h ^= UInt64(b); h = h &* 0x100000001b3 }
        return h
    }

    func fileURL(_ text: String) -> URL? {
        guard let directory else { return nil }
        let h = EmbeddingCache.fnv1a(Array((fingerprint + "\u{0}" + text).utf8))
        return directory.appendingPathComponent(String(format: "%016llx.safetensors", h))
    }

    private func readDisk(_ text: String) -> TextEmbedding? {
        guard let url = fileURL(text), FileManager.default.fileExists(atPath: url.path),
              let f = try? SafeTensorsFile(url),
              f.metadata["text"] == text, f.metadata["fingerprint"] == fingerprint,
              let ids = try? f.ints("input_ids"), let hidden = try? f.floats("last_hidden_state"),
              let pooled = try? f.floats("pooled"), let shape = f.entries["last_hidden_state"]?.shape,
              shape.count == 2, shape[0] == ids.count else { return nil }
        return TextEmbedding(tokenIDs: ids.map { Int32($0) }, hidden: hidden, dim: shape[1],
                             mask: [Float](repeating: 1, count: ids.count), pooled: pooled)
    }

    private func writeDisk(_ text: String, _ e: TextEmbedding) {
        guard let url = fileURL(text) else { return }
        do {
            var w = try EmbeddingCache.writer(e)
            w.metadata = ["text": text, "fingerprint": fingerprint]
            try w.write(to: url)
        } catch {
            FileHandle.standardError.write(Data("text encoder: warning: cannot write the embedding cache entry \(url.path): \(error)\n".utf8))
        }
    }

    /// A text embedding as safetensors tensors `input_ids`, `last_hidden_state`,
    /// `pooled`; only the real (unpadded) tokens are written.
    public static func writer(_ e: TextEmbedding) throws -> SafeTensorsWriter {
        let real = e.mask.firstIndex(of: 0) ?? e.count
        var w = SafeTensorsWriter()
        try w.add("input_ids", ints: e.tokenIDs[0..<real].map { Int64($0) }, shape: [real])
        try w.add("last_hidden_state", Array(e.hidden[0..<(real * e.dim)]), shape: [real, e.dim])
        try w.add("pooled", e.pooled, shape: [e.pooled.count])
        return w
    }
}
