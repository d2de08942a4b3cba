import Foundation
import MuseCore

/// An optimizer: updates parameters from their accumulated gradients and keeps
/// per-parameter state (moments) by parameter name, so it can be checkpointed.
public protocol Optimizer: AnyObject {
    /// Short identifier stored in checkpoints ("adamw", "adafactor").
    var kind: String { get }
    /// Number of updates applied so far.
    var step: Int { get set }
    /// Applies one update with learning rate `lr` to every parameter (gradients are
    /// read, not cleared).
    func update(_ params: [(name: String, param: Parameter)], lr: Float)
    /// State tensors by name (without the `optimizer.` prefix checkpoints add).
    func stateTensors() -> [String: Tensor]
    /// Restores state written by `stateTensors()` for `params` (the parameters
    /// `update` is given). Validates before changing anything: every parameter's
    /// state must be present with the right shape and no other tensor may be
    /// there (a checkpoint at step 0 holds no state); else throws naming the
    /// state tensor and both shapes.
    func loadState(_ tensors: [String: Tensor], step: Int, for params: [(name: String, param: Parameter)]) throws
}

/// Removes the state tensor `key` of parameter `param` from `tensors` and returns
/// it; throws when it is missing or its shape is not `shape`.
func takeOptimizerState(_ tensors: inout [String: Tensor], _ key: String, shape: [Int], param: String) throws -> Tensor {
    guard let t = tensors.removeValue(forKey: key) else {
        throw MuseError("optimizer state '\(key)' of parameter '\(param)' is missing (expected shape \(shape))")
    }
    guard t.shape == shape else {
        throw MuseError("optimizer state '\(key)' has shape \(t.shape), expected \(shape) (parameter '\(param)')")
    }
    return t
}

/// Checks the step; returns false when there is no state to load (step 0 and no
/// tensors: saved before the first update), true when every parameter must have it.
func checkOptimizerStep(_ step: Int, _ tensors: [String: Tensor]) throws -> Bool {
    guard step >= 0 else { throw MuseError("optimizer step \(step) is negative") }
    if step == 0 {
        guard tensors.isEmpty else {
            throw MuseError("optimizer step is 0 but there is optimizer state ('\(tensors.keys.sorted()[0])')")
        }
        return false
    }
    return true
}

/// Throws naming the first tensor left over after every parameter took its state.
func checkNoExtraOptimizerState(_ left: [String: Tensor]) throws {
    if let k = left.keys.sorted().first {
        throw MuseError("unexpected optimizer state '\(k)' (no such parameter, or another optimizer configuration)")
    }
}

/// Scales all gradients so their global L2 norm is at most `maxNorm`.
/// - Returns: the norm before clipping.
@discardableResult
public func clipGradientNorm(_ params: [Parameter], maxNorm: Float) -> Float {
    var s = 0.0
    for p in params { for g in p.grad.data { s += Double(g) * Double(g) } }
    let norm = Float(s.squareRoot())
    if norm > maxNorm && norm > 0 {
        let k = maxNorm / norm
        for p in params { p.grad.scale(k) }
    }
    return norm
}

/// Learning rate with linear warmup then cosine decay:
/// `lr(step) = peak * (step + 1) / warmup` for `step < warmup`, then
/// `final + (peak - final) * 0.5 * (1 + cos(pi * progress))` with progress from 0 to 1
/// at `totalSteps` (held at `final` afterwards). `step` counts from 0.
public struct WarmupCosineSchedule: Sendable {
    public var peak: Float, warmupSteps: Int, totalSteps: Int, final: Float

    public init(peak: Float, warmupSteps: Int, totalSteps: Int, final: Float = 0) {
        self.peak = peak; self.warmupSteps = warmupSteps; self.totalSteps = totalSteps; self.final = final
    }

    public func lr(step: Int) -> Float {
        if step < warmupSteps { return peak * Float(step + 1) / Float(warmupSteps) }
        let span = max(1, totalSteps - warmupSteps)
        let progress = min(1, Double(step - warmupSteps) / Double(span))
        return final + (peak - final) * Float(0.5 * (1 + cos(Double.pi * progress)))
    }
}
