import Foundation
import MuseCore

/// Safetensors files of named tensors, split into numbered shards when large.
///
/// Layout: the file at `url` always exists. When the tensors exceed
/// `maxShardBytes`, shards 2...n go to siblings
/// `<stem>.<save id>.shard-<i>-of-<n>.safetensors` and `url` holds shard 1 plus
/// metadata `muse.shards = n` and `muse.shard_files` (a JSON array of the other
/// shards' file names); every file carries the same `muse.checkpoint_id` (the
/// save id), checked on load so shards of different saves are never mixed.
///
/// Crash safety: each file is written to a temporary name and renamed; the
/// shards go first, the main file last (the commit point), and only then are
/// the shard files of older saves of the same stem deleted. Until the main
/// file is renamed, the previous checkpoint at `url` (its main file and its own
/// shards) is untouched and loads as before.
public enum Checkpoint {
    /// Shard size limit in bytes of tensor data (~45 MB).
    nonisolated(unsafe) public static var maxShardBytes = 45_000_000

    /// Most shards a checkpoint may declare (`muse.shards`): 10,000 shards of
    /// ~45 MB is 450 GB, far past any model here. A larger count is refused
    /// before any shard name is built.
    public static let maxShards = 10_000

    /// Name of shard `i` (1-based, i >= 2) of `n` of the save `id` of the checkpoint at `url`.
    public static func shardURL(_ url: URL, id: String, _ i: Int, of n: Int) -> URL {
        url.deletingLastPathComponent().appendingPathComponent("\(stem(url)).\(id).shard-\(i)-of-\(n).safetensors")
    }

    /// Shard name of checkpoints written before shard names carried the save id
    /// (`<stem>.shard-<i>-of-<n>.safetensors`); still read, and deleted by the next save.
    static func legacyShardURL(_ url: URL, _ i: Int, of n: Int) -> URL {
        url.deletingLastPathComponent().appendingPathComponent("\(stem(url)).shard-\(i)-of-\(n).safetensors")
    }

    static func stem(_ url: URL) -> String { url.deletingPathExtension().lastPathComponent }

    /// Writes float tensors (F32, or the dtype `storage` names for a tensor: F16
    /// or BF16) and integer tensors (I64, 1-D) with `metadata`.
    /// Refuses tensors holding NaN or infinities (naming the first), so a diverged
    /// run never replaces a good checkpoint with one that cannot be loaded.
    public static func write(_ tensors: [String: Tensor], ints: [String: [Int64]], metadata: [String: String],
                             to url: URL, storage: [String: SafeTensorDType] = [:],
                             maxShardBytes: Int = Checkpoint.maxShardBytes) throws {
        for name in tensors.keys.sorted() {
            if let i = SafeTensorsFile.firstNonFinite(tensors[name]!.data) {
                throw MuseError("\(url.path): not saved: tensor '\(name)' holds \(tensors[name]!.data[i]) at element \(i) (training diverged?)")
            }
        }
        for (name, dtype) in storage where tensors[name] == nil || ![.f32, .f16, .bf16].contains(dtype) {
            throw MuseError("checkpoint: cannot store '\(name)' as \(dtype.rawValue) (float tensors only, as F32, F16 or BF16)")
        }
        let shards = try pack(tensors, ints: ints, storage: storage, maxShardBytes: maxShardBytes)
        let id = newSaveID()
        let shardNames = try writeShards(shards, tensors: tensors, ints: ints, storage: storage, id: id, beside: url)
        var meta = metadata
        meta["muse.shards"] = "\(shards.count)"
        meta["muse.checkpoint_id"] = id
        if !shardNames.isEmpty {
            let json = try JSONSerialization.data(withJSONObject: shardNames)
            meta["muse.shard_files"] = String(decoding: json, as: UTF8.self)
        }
        do {
            try writeFile(shards[0], tensors: tensors, ints: ints, storage: storage, metadata: meta, to: url)
        } catch {
            removeFiles(shardNames, beside: url)
            throw error
        }
        removeStaleShards(of: url, keeping: Set(shardNames))
    }

    /// Tensor names split into shards of at most `maxShardBytes` of data (greedy,
    /// in name order; a larger tensor gets a shard of its own). Never empty.
    static func pack(_ tensors: [String: Tensor], ints: [String: [Int64]], storage: [String: SafeTensorDType] = [:],
                     maxShardBytes: Int) throws -> [[String]] {
        for name in ints.keys where tensors[name] != nil {
            throw MuseError("checkpoint: tensor name '\(name)' used twice")
        }
        var shards: [[String]] = [[]]
        var bytes = 0
        let all = (Array(tensors.keys) + Array(ints.keys)).sorted()
        for name in all {
            let size = (tensors[name]?.count ?? 0) * (storage[name] ?? .f32).size + (ints[name]?.count ?? 0) * 8
            if bytes + size > maxShardBytes && !shards[shards.count - 1].isEmpty {
                shards.append([]); bytes = 0
            }
            shards[shards.count - 1].append(name)
            bytes += size
        }
        return shards
    }

    /// A fresh save id: 24 lowercase hex digits (microseconds since 1970, then random).
    static func newSaveID() -> String {
        let micros = UInt64(Date().timeIntervalSince1970 * 1e6), random = UInt32.random(in: 0...UInt32.max)
        let a = String(micros, radix: 16), b = String(random, radix: 16)
        return String(repeating: "0", count: 16 - a.count) + a + String(repeating: "0", count: 8 - b.count) + b
    }

    static func isSaveID(_ s: Substring) -> Bool {
        s.count == 24 && s.allSatisfy { ("0"..."9").contains($0) || ("a"..."f").contains($0) }
    }

    /// Writes shards 2...n of save `id` beside `url` (the main file untouched);
    /// returns their file names. On failure removes the shards it wrote.
    static func writeShards(_ shards: [[String]], tensors: [String: Tensor], ints: [String: [Int64]],
                            storage: [String: SafeTensorDType] = [:], id: String, beside url: URL) throws -> [String] {
        var written: [String] = []
        let n = shards.count
        for i in stride(from: 2, through: n, by: 1) {
            let su = shardURL(url, id: id, i, of: n)
            do {
                try writeFile(shards[i - 1], tensors: tensors, ints: ints, storage: storage,
                              metadata: ["muse.shards": "\(n)", "muse.checkpoint_id": id], to: su)
            } catch {
                removeFiles(written, beside: url)
                throw error
            }
            written.append(su.lastPathComponent)
        }
        return written
    }

    /// Writes the tensors `names` to one safetensors file (temporary file + rename).
    static func writeFile(_ names: [String], tensors: [String: Tensor], ints: [String: [Int64]],
                          storage: [String: SafeTensorDType] = [:], metadata: [String: String], to url: URL) throws {
        var w = SafeTensorsWriter()
        w.metadata = metadata
        for name in names {
            if let t = tensors[name] { try w.add(name, t.data, shape: t.shape, as: storage[name] ?? .f32) }
            if let v = ints[name] { try w.add(name, ints: v, shape: [v.count]) }
        }
        try w.write(to: url)
    }

    static func removeFiles(_ names: [String], beside url: URL) {
        let dir = url.deletingLastPathComponent()
        for name in names { try? FileManager.default.removeItem(at: dir.appendingPathComponent(name)) }
    }

    /// Whether `name` is a shard file of a checkpoint with this `stem`:
    /// `<stem>.<save id>.shard-<i>-of-<n>.safetensors`, or the legacy
    /// `<stem>.shard-<i>-of-<n>.safetensors`.
    static func isShardFile(_ name: String, stem: String) -> Bool {
        let prefix = stem + ".", suffix = ".safetensors"
        guard name.count > prefix.count + suffix.count, name.hasPrefix(prefix), name.hasSuffix(suffix) else { return false }
        let middle = name.dropFirst(prefix.count).dropLast(suffix.count)
        let parts = middle.split(separator: ".", omittingEmptySubsequences: false)
        func isShardPart(_ p: Substring) -> Bool {
            let f = p.split(separator: "-", omittingEmptySubsequences: false)
            return f.count == 4 && f[0] == "shard" && f[2] == "of" && Int(f[1]) != nil && Int(f[3]) != nil
        }
        if parts.count == 1 { return isShardPart(parts[0]) }
        return parts.count == 2 && isSaveID(parts[0]) && isShardPart(parts[1])
    }

    /// Deletes the shard files of other saves of the checkpoint at `url` (run after
    /// its main file is in place). Failures are ignored: a stale shard is never read.
    static func removeStaleShards(of url: URL, keeping: Set<String>) {
        let dir = url.deletingLastPathComponent(), base = Checkpoint.stem(url)
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir.path) else { return }
        for name in names where !keeping.contains(name) && isShardFile(name, stem: base) {
            try? FileManager.default.removeItem(at: dir.appendingPathComponent(name))
        }
    }
}

/// Reads a (possibly sharded) checkpoint written by `Checkpoint.write`, or any
/// plain safetensors file.
public final class CheckpointReader: TensorSource {
    public let url: URL
    /// The main file's metadata (`muse.*` keys included).
    public let metadata: [String: String]
    private var files: [SafeTensorsFile] = []
    private var owner: [String: Int] = [:]

    public init(_ url: URL) throws {
        self.url = url
        let main = try SafeTensorsFile(url)
        metadata = main.metadata
        files = [main]
        var n = 1
        if let s = main.metadata["muse.shards"] {
            guard let v = Int(s), v >= 1 else { throw MuseError("\(url.path): metadata muse.shards is '\(s)', not a shard count") }
            guard v <= Checkpoint.maxShards else {
                throw MuseError("\(url.path): metadata muse.shards is \(v), more than the \(Checkpoint.maxShards) shards a checkpoint may have; the file is corrupt")
            }
            n = v
        }
        let id = main.metadata["muse.checkpoint_id"]
        if n > 1 {
            let shardURLs = try CheckpointReader.shardURLs(of: url, metadata: main.metadata, count: n)
            for (j, su) in shardURLs.enumerated() {
                let f: SafeTensorsFile
                // Opened one by one: a count that names absent shards fails at the first.
                do { f = try SafeTensorsFile(su) } catch {
                    throw MuseError("\(url.path): checkpoint shard \(j + 2) of \(n) unreadable: \(error)")
                }
                guard f.metadata["muse.checkpoint_id"] == id else {
                    throw MuseError("\(su.path): shard belongs to a different save than \(url.path) (checkpoint ids differ)")
                }
                files.append(f)
            }
        }
        for (i, f) in files.enumerated() {
            for name in f.entries.keys {
                if let other = owner[name] {
                    throw MuseError("\(f.url.path): tensor '\(name)' is also in \(files[other].url.path)")
                }
                owner[name] = i
            }
        }
    }

    /// The files of shards 2...`count` named by the main file's metadata.
    private static func shardURLs(of url: URL, metadata: [String: String], count n: Int) throws -> [URL] {
        guard let list = metadata["muse.shard_files"] else {
            // Written before shard names carried the save id.
            return (2...n).map { Checkpoint.legacyShardURL(url, $0, of: n) }
        }
        guard let names = (try? JSONSerialization.jsonObject(with: Data(list.utf8))) as? [String], names.count == n - 1 else {
            throw MuseError("\(url.path): metadata muse.shard_files is not a list of \(n - 1) shard file names")
        }
        let dir = url.deletingLastPathComponent()
        return try names.map { name in
            guard !name.isEmpty, name != ".", name != "..", !name.contains("/") else {
                throw MuseError("\(url.path): metadata muse.shard_files names '\(name)', not a file beside it")
            }
            return dir.appendingPathComponent(name)
        }
    }

    /// The checkpoint's files: the main file, then shards 2...n.
    public var fileURLs: [URL] { files.map { $0.url } }

    public var sourceName: String { url.path }
    /// All tensor names, sorted.
    public var names: [String] { owner.keys.sorted() }

    public func shape(of name: String) -> [Int]? {
        guard let i = owner[name] else { return nil }
        return files[i].entries[name]?.shape
    }

    public func floats(_ name: String) throws -> [Float] {
        guard let i = owner[name] else { throw MuseError("\(url.path): missing tensor '\(name)'") }
        return try files[i].floats(name)
    }

    /// The tensor `name` with its shape.
    public func tensor(_ name: String) throws -> Tensor {
        guard let shape = shape(of: name) else { throw MuseError("\(url.path): missing tensor '\(name)'") }
        return Tensor(shape: shape, data: try floats(name))
    }

    /// The tensor `name`, checked against `shape`.
    public func tensor(_ name: String, shape: [Int]) throws -> Tensor {
        let t = try tensor(name)
        guard t.shape == shape else { throw MuseError("\(url.path): tensor '\(name)' has shape \(t.shape), expected \(shape)") }
        return t
    }

    /// An integer tensor as Int64 values.
    public func ints(_ name: String) throws -> [Int64] {
        guard let i = owner[name] else { throw MuseError("\(url.path): missing tensor '\(name)'") }
        return try files[i].ints(name)
    }

    /// dtype of a stored tensor.
    public func dtype(of name: String) -> SafeTensorDType? {
        guard let i = owner[name] else { return nil }
        return files[i].entries[name]?.dtype
    }
}
