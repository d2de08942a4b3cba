import Foundation
import MuseCore

/// Offline exponential moving average over a sequence of checkpoints (the Muse
/// paper averages checkpoints with decay 0.7): `ema = w_1`, then
/// `ema = decay * ema + (1 - decay) * w_i` for i = 2...n, over every float weight
/// (training-state tensors `optimizer.*`, `train.*` are skipped). All checkpoints
/// must hold the same weight names and shapes: a weight missing from a later
/// checkpoint, or present only there, is an error.
public enum CheckpointEMA {
    /// Averages the weights of `inputs` (oldest first) and writes them to `output`.
    /// - Returns: the number of tensors written.
    @discardableResult
    public static func average(_ inputs: [URL], decay: Float, output: URL) throws -> Int {
        guard !inputs.isEmpty else { throw MuseError("checkpoint EMA: no input checkpoints") }
        guard decay >= 0 && decay <= 1 else { throw MuseError("checkpoint EMA: decay \(decay) outside [0, 1]") }
        let first = try CheckpointReader(inputs[0])
        let names = first.names.filter { n in
            !TrainingCheckpoint.reservedPrefixes.contains { n.hasPrefix($0) } && first.dtype(of: n) != .i64 && first.dtype(of: n) != .i32
        }
        var ema: [String: Tensor] = [:]
        for n in names { ema[n] = try first.tensor(n) }
        let nameSet = Set(names)
        for url in inputs.dropFirst() {
            let r = try CheckpointReader(url)
            // The same weight names in every checkpoint: one only in a later file is an
            // error just like one missing from it (never dropped silently).
            let extra = r.names.filter { n in
                !nameSet.contains(n) && !TrainingCheckpoint.reservedPrefixes.contains { n.hasPrefix($0) }
                    && r.dtype(of: n) != .i64 && r.dtype(of: n) != .i32
            }
            if let n = extra.first {
                throw MuseError("\(url.path): tensor '\(n)' is not in \(inputs[0].path)\(extra.count > 1 ? " (and \(extra.count - 1) more)" : ""); all checkpoints must hold the same weights")
            }
            for n in names {
                guard let shape = r.shape(of: n) else { throw MuseError("\(url.path): missing tensor '\(n)' (present in \(inputs[0].path))") }
                guard shape == ema[n]!.shape else {
                    throw MuseError("\(url.path): tensor '\(n)' has shape \(shape), but \(ema[n]!.shape) in \(inputs[0].path)")
                }
                let w = try r.floats(n)
                var t = ema.removeValue(forKey: n)!
                for i in 0..<w.count { t.data[i] = decay * t.data[i] + (1 - decay) * w[i] }
                ema[n] = t
            }
        }
        var meta = ["muse.ema_decay": "\(decay)", "muse.ema_inputs": "\(inputs.count)"]
        if let s = first.metadata["muse.step"] { meta["muse.ema_first_step"] = s }
        try Checkpoint.write(ema, ints: [:], metadata: meta, to: output)
        return ema.count
    }
}
