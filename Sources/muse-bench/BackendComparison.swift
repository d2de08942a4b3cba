import Foundation
import MuseCore
import MuseEngine

/// bf16 (oneDNN) against fp32 (OpenBLAS) on the same cases: each backend's
/// time, the speed-up, and the oneDNN bf16 matmul peak measured in this run.
func compareBackends(budget: Double, sgemmPeak: Double) throws {
    if let why = OneDNNBackend.unavailableReason {
        print("")
        print("bf16 vs fp32: skipped: \(why)")
        return
    }
    let fp32 = try BackendChoice.fp32.makeBackend(), bf16 = try BackendChoice.bf16.makeBackend()
    let saved = Engine.backend
    defer { Engine.backend = saved }
    print("")
    print("bf16 (\(bf16.name)) vs fp32 (\(fp32.name)); MUSE_BACKEND=auto picks \(BackendChoice.auto.resolved.rawValue) on this CPU")

    // Peaks, same square sizes as the sgemm peak.
    var peaks: [String: Double] = [:]
    var rng = SeededRNG(seed: 11)
    var line = "matmul peak (n x n x n, 2 threads):"
    for n in [1024, 2048] {
        let a = Tensor.randn([n, n], rng: &rng), b = Tensor.randn([n, n], rng: &rng)
        var c = Tensor(zeros: [n, n])
        for (label, be) in [("fp32", fp32), ("bf16", bf16)] {
            let t = a.data.withUnsafeBufferPointer { ap in b.data.withUnsafeBufferPointer { bp in c.data.withUnsafeMutableBufferPointer { cp in
                bestTime(budget: budget) { be.matmul(m: n, n: n, k: n, a: ap.baseAddress!, b: bp.baseAddress!, c: cp.baseAddress!) }
            }}}
            let gf = 2 * Double(n * n * n) / t * 1e-9
            peaks[label] = max(peaks[label] ?? 0, gf)
            line += String(format: "  n=%d %@ %.1f GFLOP/s", n, label, gf)
        }
    }
    print(line)
    print(String(format: "  ceilings: OpenBLAS sgemm %.1f GFLOP/s (measured above), oneDNN bf16 %.1f GFLOP/s", sgemmPeak, peaks["bf16"] ?? 0))

    print(pad("case", 46) + pad("fp32 ms", 10) + pad("bf16 ms", 10) + pad("bf16 GF/s", 11) + "bf16/fp32 speed")
    func compare(_ name: String, flops: Double, _ body: @escaping () -> Void) {
        Engine.backend = fp32
        let t32 = bestTime(budget: budget, body)
        Engine.backend = bf16
        let t16 = bestTime(budget: budget, body)
        print(pad(name, 46) + pad(String(format: "%.2f", t32 * 1e3), 10) + pad(String(format: "%.2f", t16 * 1e3), 10)
              + pad(String(format: "%.1f", flops / t16 * 1e-9), 11) + String(format: "%.2fx", t32 / t16))
    }
    for (n, din, dout) in [(8 * 256, 512, 2048), (32 * 64, 256, 1024)] {
        let lin = Linear(din, dout, rng: &rng)
        let x = Tensor.randn([n, din], rng: &rng), dy = Tensor.randn([n, dout], rng: &rng)
        let flops = 2 * Double(n * din * dout)
        compare("linear fwd \(n)x\(din) -> \(dout)", flops: flops) { _ = lin.forward(x) }
        compare("linear fwd+bwd \(n)x\(din) -> \(dout)", flops: 3 * flops) { _ = lin.forward(x); _ = lin.backward(dy) }
    }
    for (b, cin, cout, px) in [(8, 64, 64, 32), (8, 128, 128, 16)] {
        let conv = Conv2d(cin, cout, kernel: 3, rng: &rng)
        let x = Tensor.randn([b, cin, px, px], rng: &rng)
        let g = conv.geometry(x.shape)
        let dy = Tensor.randn([b, cout, g.outHeight, g.outWidth], rng: &rng)
        compare("conv3x3 \(b)x\(cin)x\(px)x\(px) -> \(cout) fwd", flops: g.forwardFlops) { _ = conv.forward(x) }
        compare("conv3x3 \(b)x\(cin)x\(px)x\(px) -> \(cout) fwd+bwd", flops: 3 * g.forwardFlops) { _ = conv.forward(x); _ = conv.backward(dy) }
    }
    do {
        let (b, t, d, s, c) = (32, 64, 256, 32, 384)
        let blk = TransformerBlock(dim: d, heads: 8, contextDim: c, rng: &rng)
        let x = Tensor.randn([b, t, d], rng: &rng), dy = Tensor.randn([b, t, d], rng: &rng), ctx = Tensor.randn([b, s, c], rng: &rng)
        let flops = attentionFlops(b: b, t: t, s: t, d: d, c: d) + attentionFlops(b: b, t: t, s: s, d: d, c: c) + 2 * 2 * Double(b * t * d * 4 * d)
        compare("block \(b)x\(t)x\(d) fwd", flops: flops) { _ = blk.forward(x, context: ctx) }
        compare("block \(b)x\(t)x\(d) fwd+bwd", flops: 3 * flops) { _ = blk.forward(x, context: ctx); _ = blk.backward(dy) }
    }
    if !OneDNNBackend.hasNativeBF16 {
        print("  note: this CPU has no native bf16 (no AMX / AVX512-BF16): oneDNN emulates it, so fp32 is the fast path here.")
    }
}
