import Foundation
import MuseCore

/// AdamW (Loshchilov & Hutter), as `torch.optim.AdamW`: decoupled weight decay
/// `p -= lr * wd * p` (parameters with `decays`), then
/// `p -= lr * mhat / (sqrt(vhat) + eps)` with bias-corrected moments.
/// State per parameter: `m.<name>`, `v.<name>`.
public final class AdamW: Optimizer {
    public let kind = "adamw"
    public var beta1: Float, beta2: Float, eps: Float, weightDecay: Float
    public var step = 0
    private var m: [String: Tensor] = [:], v: [String: Tensor] = [:]

    /// Defaults follow the Muse paper: betas 0.9 / 0.96, weight decay 0.045.
    public init(beta1: Float = 0.9, beta2: Float = 0.96, eps: Float = 1e-8, weightDecay: Float = 0.045) {
        self.beta1 = beta1; self.beta2 = beta2; self.eps = eps; self.weightDecay = weightDecay
    }

    public func update(_ params: [(name: String, param: Parameter)], lr: Float) {
        step += 1
        let b1 = beta1, b2 = beta2, eps = self.eps
        let c1 = 1 - Float(pow(Double(b1), Double(step))), c2 = 1 - Float(pow(Double(b2), Double(step)))
        for (name, p) in params {
            let n = p.value.count
            require(p.grad.count == n, "AdamW: gradient of '\(name)' has \(p.grad.count) values, parameter \(n)")
            if m[name] == nil { m[name] = Tensor(zeros: p.shape); v[name] = Tensor(zeros: p.shape) }
            let decay: Float = p.decays ? 1 - lr * weightDecay : 1
            var mt = m.removeValue(forKey: name)!, vt = v.removeValue(forKey: name)!
            require(mt.count == n && vt.count == n, "AdamW: state of '\(name)' does not match its shape \(p.shape)")
            p.value.data.withUnsafeMutableBufferPointer { wp in p.grad.data.withUnsafeBufferPointer { gp in
            mt.data.withUnsafeMutableBufferPointer { mp in vt.data.withUnsafeMutableBufferPointer { vp in
                let W = wp.baseAddress!, G = gp.baseAddress!, M = mp.baseAddress!, V = vp.baseAddress!
                Tensor.elementwise(n) { r in
                    for i in r {
                        let g = G[i]
                        M[i] = b1 * M[i] + (1 - b1) * g
                        V[i] = b2 * V[i] + (1 - b2) * g * g
                        let mhat = M[i] / c1, vhat = V[i] / c2
                        W[i] = W[i] * decay - lr * mhat / (vhat.squareRoot() + eps)
                    }
                }
            }}}}
            m[name] = mt; v[name] = vt
        }
    }

    public func stateTensors() -> [String: Tensor] {
        var d: [String: Tensor] = [:]
        for (k, t) in m { d["m." + k] = t }
        for (k, t) in v { d["v." + k] = t }
        return d
    }

    public func loadState(_ tensors: [String: Tensor], step: Int, for params: [(name: String, param: Parameter)]) throws {
        var left = tensors
        var newM: [String: Tensor] = [:], newV: [String: Tensor] = [:]
        if try checkOptimizerStep(step, tensors) {
            for (name, p) in params {
                newM[name] = try takeOptimizerState(&left, "m." + name, shape: p.shape, param: name)
                newV[name] = try takeOptimizerState(&left, "v." + name, shape: p.shape, param: name)
            }
            try checkNoExtraOptimizerState(left)
        }
        self.step = step
        m = newM; v = newV
    }
}
