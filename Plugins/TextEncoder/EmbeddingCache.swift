import Foundation
import MuseCore

/// Embeddings by prompt text, since training encodes the same captions many
/// times: an in-memory LRU of at most `capacity` entries and, optionally, a
/// folder of one small safetensors file per prompt that survives the process.
///
/// Disk entries are named by a 64-bit FNV-1a hash of the model fingerprint
/// (which covers the weights' content and `max_tokens`) and the text; each file
/// stores the text and the fingerprint in its metadata. Files hold the unpadded
/// embedding in the one text-embedding layout (`TextEmbedding.safetensorsWriter()`,
/// the same `muse-run --out` writes). An entry whose metadata does not match (hash
/// collision, another model) or that fails validation (damaged file, another
/// width) is a miss and is rewritten.
/// Thread-safe.
public final class EmbeddingCache: @unchecked Sendable {
    /// Most prompts kept in memory (0: no in-memory cache).
    public let capacity: Int
    /// Folder of the on-disk cache, or nil.
    public let directory: URL?
    /// Identifies the model and settings the entries were computed with.
    public let fingerprint: String
    /// Width of the hidden states; disk entries of another width are ignored (nil: any).
    public let dim: Int?

    private let lock = NSLock()
    private var entries: [String: (embedding: TextEmbedding, tick: UInt64)] = [:]
    private var tick: UInt64 = 0
    public private(set) var hits = 0
    public private(set) var misses = 0

    public init(capacity: Int, directory: URL? = nil, fingerprint: String, dim: Int? = nil) {
        self.capacity = max(0, capacity)
        self.directory = directory
        self.fingerprint = fingerprint
        self.dim = dim
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

    func fileURL(_ text: String) -> URL? {
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
            var w = try EmbeddingCache.writer(e)
            w.metadata = ["text": text, "fingerprint": fingerprint]
            try w.write(to: url)
        } catch {
            FileHandle.standardError.write(Data("text encoder: warning: cannot write the embedding cache entry \(url.path): \(error)\n".utf8))
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
