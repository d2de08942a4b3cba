import Foundation

/// A scalar loss and its gradient with respect to the prediction.
public struct LossResult {
    public let loss: Float
    public let grad: Tensor
}

/// Cross-entropy losses and L1/L2 regression losses (mean reductions).
public enum Losses {
    /// Softmax cross-entropy over selected rows (e.g. only masked tokens),
    /// averaged over the selected rows.
    ///
    /// With label smoothing `eps` the target distribution is `(1 - eps) onehot + eps / V`
    /// (PyTorch's `label_smoothing`).
    /// - Parameters:
    ///   - logits: `[N, V]` (or `[..., V]`).
    ///   - targets: `N` class ids in `0..<V` (ignored where not selected).
    ///   - selected: `N` flags; nil selects every row.
    /// - Returns: loss and dlogits `[N, V]` (zero rows where not selected). A zero
    ///   selection gives loss 0 and a zero gradient.
    public static func crossEntropy(logits: Tensor, targets: [Int], selected: [Bool]? = nil,
                                    labelSmoothing eps: Float = 0) -> LossResult {
        let N = logits.rows, V = logits.lastDim
        require(targets.count == N, "crossEntropy: \(targets.count) targets for logits \(logits.shape)")
        if let selected { require(selected.count == N, "crossEntropy: \(selected.count) selection flags for logits \(logits.shape)") }
        let rows = (0..<N).filter { selected?[$0] ?? true }
        for r in rows { require(targets[r] >= 0 && targets[r] < V, "crossEntropy: target \(targets[r]) at row \(r) out of range 0..<\(V)") }
        var grad = Tensor(zeros: logits.shape)
        guard !rows.isEmpty else { return LossResult(loss: 0, grad: grad) }
        let inv = 1 / Float(rows.count)
        var losses = [Double](repeating: 0, count: rows.count)
        logits.data.withUnsafeBufferPointer { lp in grad.data.withUnsafeMutableBufferPointer { gp in losses.withUnsafeMutableBufferPointer { lsp in
            let L = lp.baseAddress!, G = gp.baseAddress!, LS = lsp.baseAddress!
            Parallel.forEach(rows.count, minPerChunk: max(1, Parallel.elementwiseGrain / max(1, V))) { i in
                let r = rows[i], z = L + r * V, g = G + r * V, t = targets[r]
                var m = -Float.infinity
                for j in 0..<V { m = max(m, z[j]) }
                var zsum: Float = 0
                for j in 0..<V { g[j] = z[j]; zsum += z[j] }
                let s = expShiftInPlace(g, V, shift: m)
                let lse = m + Foundation.log(s)
                // loss = lse - (1 - eps) z_t - eps/V * sum z
                LS[i] = Double(lse) - Double(1 - eps) * Double(z[t]) - Double(eps / Float(V)) * Double(zsum)
                let invS = 1 / s, smooth = eps / Float(V)
                for j in 0..<V { g[j] = (g[j] * invS - smooth) * inv }
                g[t] -= (1 - eps) * inv
            }
        }}}
        return LossResult(loss: Float(losses.reduce(0, +) / Double(rows.count)), grad: grad)
    }

    /// Mean squared error `mean((pred - target)^2)`; grad w.r.t. pred.
    public static func mse(_ pred: Tensor, _ target: Tensor) -> LossResult {
        require(pred.shape == target.shape, "mse: prediction \(pred.shape) and target \(target.shape) differ")
        var grad = pred
        var s = 0.0
        let k = 2 / Float(max(1, pred.count))
        for i in 0..<pred.count {
            let d = pred.data[i] - target.data[i]
            s += Double(d * d)
            grad.data[i] = k * d
        }
        return LossResult(loss: Float(s / Double(max(1, pred.count))), grad: grad)
    }

    /// Mean absolute error `mean(|pred - target|)`; grad `sign(pred - target) / n` (0 at ties).
    public static func l1(_ pred: Tensor, _ target: Tensor) -> LossResult {
        require(pred.shape == target.shape, "l1: prediction \(pred.shape) and target \(target.shape) differ")
        var grad = pred
        var s = 0.0
        let k = 1 / Float(max(1, pred.count))
        for i in 0..<pred.count {
            let d = pred.data[i] - target.data[i]
            s += Double(abs(d))
            grad.data[i] = d > 0 ? k : (d < 0 ? -k : 0)
        }
        return LossResult(loss: Float(s / Double(max(1, pred.count))), grad: grad)
    }
}
