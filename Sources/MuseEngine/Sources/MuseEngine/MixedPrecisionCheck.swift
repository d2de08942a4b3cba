import Foundation
import MuseCore

/// Trains the same small models from the same seed on two backends and
/// compares their loss curves: the evidence that mixed-precision training
/// (fp32 master weights and optimizer state, bf16 GEMM/convolution operands)
/// learns like fp32. Two tasks stand in for the project's two model families:
///
/// - `transformer`: masked-token prediction (Muse's objective: cross-entropy on
///   masked positions only) over sequences `(start + i * step) mod 16`, with a
///   2-block pre-LN transformer of width 64.
/// - `conv`: a convolutional autoencoder (stride-2 conv, SiLU, conv, nearest 2x
///   upsampling, conv) reconstructing random smooth 16x16 RGB images (L2 loss).
public enum MixedPrecisionCheck {
    public enum Task: String, CaseIterable, Sendable { case transformer, conv }

    /// Loss per step.
    public struct Curve { public let task: Task; public let backend: String; public let losses: [Float] }

    /// Trains `task` for `steps` steps on `backend` and returns its loss curve.
    /// The data and initialisation depend only on `seed`.
    public static func run(_ task: Task, steps: Int, seed: UInt64, backend: ComputeBackend,
                           progress: ((Int, Float) -> Void)? = nil) -> Curve {
        var rng = SeededRNG(seed: seed)
        let model: ToyModel = task == .transformer ? ToyTransformer(backend: backend, rng: &rng)
                                                   : ToyConvNet(backend: backend, rng: &rng)
        let opt = AdamW(weightDecay: 0.01)
        let schedule = WarmupCosineSchedule(peak: 2e-3, warmupSteps: max(1, steps / 20), totalSteps: steps)
        var data = SeededRNG(seed: seed ^ 0xDA7A)
        var losses: [Float] = []
        for step in 0..<steps {
            model.zeroGrad()
            let loss = model.trainLoss(&data)
            clipGradientNorm(model.parameters, maxNorm: 1)
            opt.update(model.namedParameters, lr: schedule.lr(step: step))
            losses.append(loss)
            progress?(step + 1, loss)
        }
        return Curve(task: task, backend: backend.name, losses: losses)
    }

    /// Mean loss over consecutive windows of `window` steps.
    public static func windowMeans(_ losses: [Float], window: Int) -> [Float] {
        stride(from: 0, to: losses.count, by: window).map { s in
            let w = losses[s..<min(losses.count, s + window)]
            return w.reduce(0, +) / Float(w.count)
        }
    }
}

/// A model that computes its own training loss on freshly drawn data and
/// leaves gradients accumulated in its parameters.
protocol ToyModel: Module {
    func trainLoss(_ rng: inout SeededRNG) -> Float
}

/// Masked-token prediction over arithmetic sequences mod 16.
final class ToyTransformer: ToyModel {
    let vocab = 16, length = 16, dim = 64, batch = 16
    let tokens: Embedding, positions: Embedding
    let blocks: [TransformerBlock]
    let norm: LayerNorm
    let head: Linear

    init(backend: ComputeBackend, rng: inout SeededRNG) {
        let (v, d) = (vocab, dim)
        tokens = Embedding(count: v + 1, dim: d, rng: &rng)   // + [MASK]
        positions = Embedding(count: length, dim: d, rng: &rng)
        var blocks: [TransformerBlock] = []
        for _ in 0..<2 { blocks.append(TransformerBlock(dim: d, heads: 4, backend: backend, rng: &rng)) }
        self.blocks = blocks
        norm = LayerNorm(d)
        head = Linear(d, v, backend: backend, rng: &rng)
    }

    var namedParameters: [(name: String, param: Parameter)] {
        nest("tokens", tokens) + nest("positions", positions) + nest("blocks", blocks) + nest("norm", norm) + nest("head", head)
    }

    func trainLoss(_ rng: inout SeededRNG) -> Float {
        var ids: [Int] = [], targets: [Int] = [], masked: [Bool] = []
        for _ in 0..<batch {
            let start = rng.int(vocab), step = 1 + rng.int(vocab - 1)
            // Muse's masking rate: r = cos(pi/2 * u), at least one masked token.
            let r = Float(cos(Double.pi / 2 * Double(rng.uniform())))
            var m = (0..<length).map { _ in rng.uniform() < r }
            if !m.contains(true) { m[rng.int(length)] = true }
            for i in 0..<length {
                let t = (start + i * step) % vocab
                targets.append(t); masked.append(m[i]); ids.append(m[i] ? vocab : t)
            }
        }
        // Ids are in range by construction, so the lookups cannot throw.
        var x = try! tokens.forward(ids, shape: [batch, length])
        x.add(try! positions.forward((0..<(batch * length)).map { $0 % length }, shape: [batch, length]))
        for b in blocks { x = b.forward(x) }
        let logits = head.forward(norm.forward(x))
        let ce = Losses.crossEntropy(logits: logits, targets: targets, selected: masked)
        var dx = norm.backward(head.backward(ce.grad))
        for b in blocks.reversed() { dx = b.backward(dx).dx }
        positions.backward(dx)
        tokens.backward(dx)
        return ce.loss
    }
}

/// A small convolutional autoencoder on smooth random images.
final class ToyConvNet: ToyModel {
    let batch = 8, size = 16
    let down: Conv2d, mid: Conv2d, out: Conv2d
    let act1 = SiLU(), act2 = SiLU(), up = Upsample2x()

    init(backend: ComputeBackend, rng: inout SeededRNG) {
        down = Conv2d(3, 32, kernel: 3, stride: 2, backend: backend, rng: &rng)
        mid = Conv2d(32, 32, kernel: 3, backend: backend, rng: &rng)
        out = Conv2d(32, 3, kernel: 3, backend: backend, rng: &rng)
    }

    var namedParameters: [(name: String, param: Parameter)] { nest("down", down) + nest("mid", mid) + nest("out", out) }

    /// Images that are sums of two random colour gradients: smooth, so a 2x
    /// bottleneck can reconstruct them.
    func images(_ rng: inout SeededRNG) -> Tensor {
        var t = Tensor(zeros: [batch, 3, size, size])
        for b in 0..<batch {
            for c in 0..<3 {
                let ax = rng.uniform() - 0.5, ay = rng.uniform() - 0.5, c0 = rng.uniform()
                for y in 0..<size { for x in 0..<size {
                    t[b, c, y, x] = c0 + ax * Float(x) / Float(size) + ay * Float(y) / Float(size)
                } }
            }
        }
        return t
    }

    func trainLoss(_ rng: inout SeededRNG) -> Float {
        let x = images(&rng)
        let y = out.forward(up.forward(act2.forward(mid.forward(act1.forward(down.forward(x))))))
        let l = Losses.mse(y, x)
        _ = down.backward(act1.backward(mid.backward(act2.backward(up.backward(out.backward(l.grad))))))
        return l.loss
    }
}
