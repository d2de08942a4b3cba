import MuseCore

/// Inverted dropout: in training, zeroes each element with probability `p` and
/// scales the rest by `1/(1-p)`; identity in evaluation.
public final class Dropout {
    public let p: Float
    private var mask: [Float] = []

    public init(_ p: Float) {
        precondition(p >= 0 && p < 1, "Dropout: p must be in [0, 1), got \(p)")
        self.p = p
    }

    /// x -> y (same shape). Draws the mask from `rng` when `training` and p > 0.
    public func forward(_ x: Tensor, training: Bool, rng: inout SeededRNG) -> Tensor {
        guard training && p > 0 else { mask = []; return x }
        let scale = 1 / (1 - p)
        mask = [Float](repeating: 0, count: x.count)
        for i in 0..<x.count { mask[i] = rng.uniform() >= p ? scale : 0 }
        var y = x
        for i in 0..<x.count { y.data[i] *= mask[i] }
        return y
    }

    /// dx = dy * mask (identity when the forward pass did not drop).
    public func backward(_ dy: Tensor) -> Tensor {
        guard !mask.isEmpty else { return dy }
        require(dy.count == mask.count, "Dropout.backward: gradient shape \(dy.shape) for \(mask.count) elements")
        var dx = dy
        for i in 0..<dy.count { dx.data[i] *= mask[i] }
        return dx
    }
}
