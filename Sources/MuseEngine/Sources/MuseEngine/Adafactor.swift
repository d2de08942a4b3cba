import Foundation
import MuseCore

/// Adafactor (Shazeer & Stern 2018), the Muse paper's optimizer, with an external
/// learning rate (no relative step or parameter scaling), as in the Hugging Face
/// implementation with `scale_parameter=False, relative_step=False`:
/// - second moment decay `beta2_t = 1 - t^decayRate` (decayRate -0.8);
/// - parameters of rank >= 2 (viewed as `[rows, lastDim]`) keep factored row and
///   column moments `vr [rows]`, `vc [cols]`: `V ~ vr vc^T / mean(vr)`; others a full `v`;
/// - update `u = g / sqrt(V)`, clipped to RMS <= `clipThreshold`;
/// - optional first moment `m = beta1 m + (1 - beta1) u` (beta1 nil: none);
/// - decoupled weight decay `p -= lr * wd * p` for parameters with `decays`.
/// State per parameter: `vr.<name>`, `vc.<name>` or `v.<name>`, and `m.<name>`.
public final class Adafactor: Optimizer {
    public let kind = "adafactor"
    public var beta1: Float?, decayRate: Float, eps1: Float, clipThreshold: Float, weightDecay: Float
    public var step = 0
    private var state: [String: Tensor] = [:]

    public init(beta1: Float? = 0.9, decayRate: Float = -0.8, eps1: Float = 1e-30, clipThreshold: Float = 1,
                weightDecay: Float = 0.045) {
        self.beta1 = beta1; self.decayRate = decayRate; self.eps1 = eps1
        self.clipThreshold = clipThreshold; self.weightDecay = weightDecay
    }

    public func update(_ params: [(name: String, param: Parameter)], lr: Float) {
        step += 1
        let b2 = 1 - Float(pow(Double(step), Double(decayRate)))
        for (name, p) in params {
            let n = p.value.count
            let g = p.grad.data
            var u = [Float](repeating: 0, count: n)
            if let f = Adafactor.factoredShapes(p.shape) {
                let rows = f.vr[0], cols = f.vc[0]
                var vr = state["vr." + name] ?? Tensor(zeros: f.vr)
                var vc = state["vc." + name] ?? Tensor(zeros: f.vc)
                var rowMean = [Double](repeating: 0, count: rows), colMean = [Double](repeating: 0, count: cols)
                for r in 0..<rows { for c in 0..<cols {
                    let s = Double(g[r * cols + c] * g[r * cols + c] + eps1)
                    rowMean[r] += s; colMean[c] += s
                } }
                var vrMean = 0.0
                for r in 0..<rows {
                    vr.data[r] = b2 * vr.data[r] + (1 - b2) * Float(rowMean[r] / Double(cols))
                    vrMean += Double(vr.data[r])
                }
                for c in 0..<cols { vc.data[c] = b2 * vc.data[c] + (1 - b2) * Float(colMean[c] / Double(rows)) }
                vrMean /= Double(rows)
                for r in 0..<rows {
                    let rf = 1 / (vr.data[r] / Float(vrMean)).squareRoot()
                    for c in 0..<cols { u[r * cols + c] = g[r * cols + c] * rf / vc.data[c].squareRoot() }
                }
                state["vr." + name] = vr; state["vc." + name] = vc
            } else {
                var v = state["v." + name] ?? Tensor(zeros: p.shape)
                for i in 0..<n {
                    v.data[i] = b2 * v.data[i] + (1 - b2) * (g[i] * g[i] + eps1)
                    u[i] = g[i] / v.data[i].squareRoot()
                }
                state["v." + name] = v
            }
            var ss = 0.0
            for x in u { ss += Double(x) * Double(x) }
            let rms = Float((ss / Double(max(1, n))).squareRoot())
            let div = max(1, rms / clipThreshold)
            for i in 0..<n { u[i] /= div }
            if let b1 = beta1 {
                var m = state["m." + name] ?? Tensor(zeros: p.shape)
                for i in 0..<n { m.data[i] = b1 * m.data[i] + (1 - b1) * u[i]; u[i] = m.data[i] }
                state["m." + name] = m
            }
            let decay: Float = p.decays ? 1 - lr * weightDecay : 1
            for i in 0..<n { p.value.data[i] = p.value.data[i] * decay - lr * u[i] }
        }
    }

    public func stateTensors() -> [String: Tensor] { state }

    public func loadState(_ tensors: [String: Tensor], step: Int, for params: [(name: String, param: Parameter)]) throws {
        var left = tensors
        var new: [String: Tensor] = [:]
        if try checkOptimizerStep(step, tensors) {
            for (name, p) in params {
                if let f = Adafactor.factoredShapes(p.shape) {
                    new["vr." + name] = try takeOptimizerState(&left, "vr." + name, shape: f.vr, param: name)
                    new["vc." + name] = try takeOptimizerState(&left, "vc." + name, shape: f.vc, param: name)
                } else {
                    new["v." + name] = try takeOptimizerState(&left, "v." + name, shape: p.shape, param: name)
                }
                if beta1 != nil { new["m." + name] = try takeOptimizerState(&left, "m." + name, shape: p.shape, param: name) }
            }
            try checkNoExtraOptimizerState(left)
        }
        self.step = step
        state = new
    }

    /// Shapes of the factored second-moment state `vr`, `vc` of a parameter of
    /// `shape`, or nil when it keeps a full `v` (rank < 2).
    static func factoredShapes(_ shape: [Int]) -> (vr: [Int], vc: [Int])? {
        guard shape.count >= 2 else { return nil }
        let cols = shape[shape.count - 1], n = shape.reduce(1, *)
        return ([cols == 0 ? 0 : n / cols], [cols])
    }
}
