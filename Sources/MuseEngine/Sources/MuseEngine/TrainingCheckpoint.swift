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

    /// The one-value, non-negative integer tensor `name`.
    private static func scalar(_ r: CheckpointReader, _ name: String) throws -> Int {
        let v = try r.ints(name)
        guard v.count == 1 else { throw MuseError("\(r.url.path): tensor '\(name)' has \(v.count) values, expected 1") }
        guard v[0] >= 0 else { throw MuseError("\(r.url.path): tensor '\(name)' is \(v[0]), expected >= 0") }
        return Int(v[0])
    }
}
