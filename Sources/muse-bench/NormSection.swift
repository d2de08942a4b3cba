import Foundation
import MuseCore
import MuseEngine

/// Layer and group normalization at the models' shapes. They move memory
/// rather than compute, so each is printed next to a memory ceiling measured in
/// the same run: one copy of its input tensor into another (read + write once).
/// A forward pass reads its input three times (mean, variance, output) and
/// writes once (four passes over memory to the copy's two): about 2x the copy
/// time is the floor of this two-pass method.
func benchNorms(budget: Double) {
    print("")
    print("-- normalization (memory-bound: the ceiling is a copy of the input, timed in the same run)")
    print(pad("case", 58) + pad("ms", 10) + pad("copy ms", 10) + "x copy")
    var rng = SeededRNG(seed: 9)
    func row(_ name: String, _ x: Tensor, _ seconds: Double) {
        var y = Tensor(zeros: x.shape)
        let copy = bestTime(budget: budget) {
            x.data.withUnsafeBufferPointer { xp in y.data.withUnsafeMutableBufferPointer { yp in
                yp.baseAddress!.update(from: xp.baseAddress!, count: xp.count)
            }}
        }
        print(pad(name, 58) + pad(String(format: "%.3f", seconds * 1e3), 10) + pad(String(format: "%.3f", copy * 1e3), 10)
              + String(format: "%.1f", seconds / copy))
    }
    // The base transformer: one pass of 64 examples x 64 tokens at width 256.
    let ln = LayerNorm(256)
    let h = Tensor.randn([64, 64, 256], rng: &rng), dh = Tensor.randn([64, 64, 256], rng: &rng)
    row("LayerNorm fwd [64, 64, 256]", h, bestTime(budget: budget) { _ = ln.forward(h) })
    row("LayerNorm fwd+bwd [64, 64, 256]", h, bestTime(budget: budget) { _ = ln.forward(h); _ = ln.backward(dh) })
    // The image tokenizer's first stage: 32 images, 32 channels at 64 px, 8 groups.
    let gn = GroupNorm(groups: 8, channels: 32)
    let x = Tensor.randn([32, 32, 64, 64], rng: &rng), dx = Tensor.randn([32, 32, 64, 64], rng: &rng)
    row("GroupNorm fwd [32, 32, 64, 64], 8 groups", x, bestTime(budget: budget) { _ = gn.forward(x) })
    row("GroupNorm fwd+bwd [32, 32, 64, 64], 8 groups", x, bestTime(budget: budget) { _ = gn.forward(x); _ = gn.backward(dx) })
}
