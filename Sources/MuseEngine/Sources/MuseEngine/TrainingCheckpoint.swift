import Foundation
import MuseCore

/// A training-state checkpoint: model parameters and buffers (under their own
/// names, so the file also loads as plain weights), optimizer state
/// (`optimizer.<state name>`), the step (`train.step`), the optimizer's step
/// (`optimizer.step`) and the RNG state (`train.rng`, 4 words). Written through
/// `Checkpoint.write` (temporary file + rename, sharded past ~45 MB): restoring
/// it and continuing gives bit-for-bit the run that was never interrupted.
public enum TrainingCheckpoint {
    /// Prefixes of non-weight tensors in a training checkpoint.
    public static let reservedPrefixes = ["optimizer.", "train."]

    /// Saves the full training state to `url`.
    public static func save(to url: URL, model: Module, optimizer: Optimizer, step: Int, rng: SeededRNG,
                            metadata: [String: String] = [:]) throws {
        var tensors = model.stateDict()
        for name in tensors.keys where reservedPrefixes.contains(where: { name.hasPrefix($0) }) {
            throw MuseError("checkpoint: parameter name '\(name)' uses a reserved prefix (optimizer., train.)")
        }
        for (k, t) in optimizer.stateTensors() { tensors["optimizer." + k] = t }
        var meta = metadata
        meta["muse.optimizer"] = optimizer.kind
        meta["muse.step"] = "\(step)"
        let ints: [String: [Int64]] = [
            "train.step": [Int64(step)],
            "optimizer.step": [Int64(optimizer.step)],
            "train.rng": rng.stateWords.map { Int64(bitPattern: $0) },
        ]
        try Checkpoint.write(tensors, ints: ints, metadata: meta, to: url)
    }

    /// Restores model, optimizer state and returns the step and RNG saved at `url`.
    /// Throws naming a missing or wrong-shaped tensor (optimizer state included:
    /// every parameter of `model` must have it), or an optimizer mismatch.
    public static func load(from url: URL, model: Module, optimizer: Optimizer) throws -> (step: Int, rng: SeededRNG) {
        let r = try CheckpointReader(url)
        guard let kind = r.metadata["muse.optimizer"] else {
            throw MuseError("\(url.path): not a training checkpoint (no optimizer state); load it as weights instead")
        }
        guard kind == optimizer.kind else {
            throw MuseError("\(url.path): checkpoint has \(kind) optimizer state, but the run uses \(optimizer.kind)")
        }
        // Scalars and the RNG first, so a corrupt file fails before anything is loaded.
        let step = try scalar(r, "train.step"), optimizerStep = try scalar(r, "optimizer.step")
        let words = try r.ints("train.rng")
        guard words.count == 4 else { throw MuseError("\(url.path): train.rng has \(words.count) words, expected 4") }
        var opt: [String: Tensor] = [:]
        for name in r.names where name.hasPrefix("optimizer.") && name != "optimizer.step" {
            opt[String(name.dropFirst("optimizer.".count))] = try r.tensor(name)
        }
        try model.load(from: r)
        do {
            try optimizer.loadState(opt, step: optimizerStep, for: model.namedParameters)
        } catch {
            throw MuseError("\(url.path): \(error)")
        }
        return (step, SeededRNG(stateWords: words.map { UInt64(bitPattern: $0) }))
    }

    /// Rewrites the training checkpoint at `url` with its optimizer state (the
    /// `optimizer.*` float tensors) stored as BF16; weights, the step, the RNG and
    /// the metadata are kept exactly. For committing a run's state between
    /// sessions: AdamW's two moments shrink from 8 to 4 bytes per parameter, the
    /// checkpoint from ~12 to ~8. Loading converts back to F32: a run resumed from
    /// it continues with its moments rounded to bf16's 8 significant bits (the
    /// exponent range of F32, so no second moment underflows to zero), which is not
    /// bit-identical to the uninterrupted run; its next checkpoint is F32 again.
    /// Compacting a compacted checkpoint changes nothing. Returns the bytes of the
    /// checkpoint's files before and after.
    @discardableResult
    public static func compactOptimizerState(at url: URL) throws -> (before: Int, after: Int) {
        let r = try CheckpointReader(url)
        guard r.metadata["muse.optimizer"] != nil else {
            throw MuseError("\(url.path): not a training checkpoint (no optimizer state); nothing to compact")
        }
        let before = try bytes(of: r.fileURLs)
        var tensors: [String: Tensor] = [:], ints: [String: [Int64]] = [:], storage: [String: SafeTensorDType] = [:]
        for name in r.names {
            switch r.dtype(of: name) {
            case .i64?, .i32?:
                ints[name] = try r.ints(name)
            case let dtype?:
                tensors[name] = try r.tensor(name)
                storage[name] = name.hasPrefix("optimizer.") ? .bf16 : dtype
            case nil:
                throw MuseError("\(url.path): tensor '\(name)' has no dtype")
            }
        }
        var meta = r.metadata
        for key in ["muse.shards", "muse.shard_files", "muse.checkpoint_id"] { meta[key] = nil }
        meta["train.optimizer_storage"] = "BF16"
        try Checkpoint.write(tensors, ints: ints, metadata: meta, to: url, storage: storage)
        return (before, try bytes(of: CheckpointReader(url).fileURLs))
    }

    private static func bytes(of files: [URL]) throws -> Int {
        try files.reduce(0) { $0 + ((try FileManager.default.attributesOfItem(atPath: $1.path)[.size] as? Int) ?? 0) }
    }

    /// The one-value, non-negative integer tensor `name`.
    private static func scalar(_ r: CheckpointReader, _ name: String) throws -> Int {
        let v = try r.ints(name)
        guard v.count == 1 else { throw MuseError("\(r.url.path): tensor '\(name)' has \(v.count) values, expected 1") }
        guard v[0] >= 0 else { throw MuseError("\(r.url.path): tensor '\(name)' is \(v[0]), expected >= 0") }
        return Int(v[0])
    }
}
