import Foundation
import MuseCore

/// Safetensors files of named tensors, split into numbered shards when large.
///
/// Layout: the file at `url` always exists and is written LAST (each file is
/// written to a temporary name and renamed), so its presence marks a complete
/// checkpoint. When the tensors exceed `maxShardBytes`, shards 2...n go to
/// siblings `<stem>.shard-<i>-of-<n>.safetensors` and `url` holds shard 1 plus
/// metadata `muse.shards = n`; every shard carries the same `muse.checkpoint_id`,
/// checked on load so shards of different saves are never mixed.
public enum Checkpoint {
    /// Shard size limit in bytes of tensor data (~45 MB).
    nonisolated(unsafe) public static var maxShardBytes = 45_000_000

    /// Name of shard `i` (1-based, i >= 2) of `n` for the checkpoint at `url`.
    public static func shardURL(_ url: URL, _ i: Int, of n: Int) -> URL {
        let stem = url.deletingPathExtension().lastPathComponent
        return url.deletingLastPathComponent().appendingPathComponent("\(stem).shard-\(i)-of-\(n).safetensors")
    }

    /// Writes float tensors (F32) and integer tensors (I64, 1-D) with `metadata`.
    public static func write(_ tensors: [String: Tensor], ints: [String: [Int64]], metadata: [String: String],
                             to url: URL, maxShardBytes: Int = Checkpoint.maxShardBytes) throws {
        for name in ints.keys where tensors[name] != nil {
            throw MuseError("checkpoint: tensor name '\(name)' used twice")
        }
        // Greedy packing in name order.
        var shards: [[String]] = [[]]
        var bytes = 0
        let all = (Array(tensors.keys) + Array(ints.keys)).sorted()
        for name in all {
            let size = (tensors[name]?.count ?? 0) * 4 + (ints[name]?.count ?? 0) * 8
            if bytes + size > maxShardBytes && !shards[shards.count - 1].isEmpty {
                shards.append([]); bytes = 0
            }
            shards[shards.count - 1].append(name)
            bytes += size
        }
        let n = shards.count
        let id = "\(UInt64(Date().timeIntervalSince1970 * 1e6))-\(UInt32.random(in: 0...UInt32.max))"
        // Shards 2...n first, the main file last.
        for i in stride(from: n, through: 1, by: -1) {
            var w = SafeTensorsWriter()
            if i == 1 { w.metadata = metadata }
            w.metadata["muse.shards"] = "\(n)"
            w.metadata["muse.checkpoint_id"] = id
            for name in shards[i - 1] {
                if let t = tensors[name] { try w.add(name, t.data, shape: t.shape) }
                if let v = ints[name] { try w.add(name, ints: v, shape: [v.count]) }
            }
            try w.write(to: i == 1 ? url : shardURL(url, i, of: n))
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
        let n = Int(main.metadata["muse.shards"] ?? "1") ?? 1
        let id = main.metadata["muse.checkpoint_id"]
        if n > 1 {
            for i in 2...n {
                let su = Checkpoint.shardURL(url, i, of: n)
                let f: SafeTensorsFile
                do { f = try SafeTensorsFile(su) } catch {
                    throw MuseError("\(url.path): checkpoint shard \(i) of \(n) unreadable: \(error)")
                }
                guard f.metadata["muse.checkpoint_id"] == id else {
                    throw MuseError("\(su.path): shard belongs to a different save than \(url.path) (checkpoint ids differ)")
                }
                files.append(f)
            }
        }
        for (i, f) in files.enumerated() { for name in f.entries.keys { owner[name] = i } }
    }

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
