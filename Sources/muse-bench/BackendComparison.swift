import Foundation
import MuseCore
import MuseEngine

/// bf16 (oneDNN) against fp32 (OpenBLAS) on the same cases: each backend's
/// time, the speed-up, and the oneDNN bf16 matmul peak measured in this run.
/// Each case builds the same layer (same seed, same weights) once per backend.
func compareBackends(budget: Double, sgemmPeak: Double) throws {
    if let why = OneDNNBackend.unavailableReason {
        print("")
        print("bf16 vs fp32: skipped: \(why)")
        return
    }
    let fp32 = try BackendChoice.fp32.makeBackend(), bf16 = try BackendChoice.bf16.makeBackend()
    print("")
    print("bf16 (\(bf16.name)) vs fp32 (\(fp32.name)); the default here: \(Engine.backendDecision.choice.rawValue) (\(Engine.backendDecision.reason))")

    // Peaks, same square sizes as the sgemm peak.
    var peaks: [String: Double] = [:]
    var rng = SeededRNG(seed: 11)
    var line = "matmul peak (n x n x n, default threads):"
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
    /// Times `make(fp32)` against `make(bf16)`: `make` builds the case on a backend
    /// (from a copy of the same random state) and returns the work to time.
    func compare(_ name: String, flops: Double, _ make: (ComputeBackend, inout SeededRNG) -> () -> Void) {
        let seed = rng
        var r32 = seed, r16 = seed
        let body32 = make(fp32, &r32), body16 = make(bf16, &r16)
        rng = r32
        let t32 = bestTime(budget: budget, body32)
        let t16 = bestTime(budget: budget, body16)
        print(pad(name, 46) + pad(String(format: "%.2f", t32 * 1e3), 10) + pad(String(format: "%.2f", t16 * 1e3), 10)
              + pad(String(format: "%.1f", flops / t16 * 1e-9), 11) + String(format: "%.2fx", t32 / t16))
    }
    for (n, din, dout) in [(8 * 256, 512, 2048), (32 * 64, 256, 1024)] {
        let flops = 2 * Double(n * din * dout)
        compare("linear fwd \(n)x\(din) -> \(dout)", flops: flops) { be, r in
            let lin = Linear(din, dout, backend: be, rng: &r), x = Tensor.randn([n, din], rng: &r)
            return { _ = lin.forward(x) }
        }
        compare("linear fwd+bwd \(n)x\(din) -> \(dout)", flops: 3 * flops) { be, r in
            let lin = Linear(din, dout, backend: be, rng: &r)
            let x = Tensor.randn([n, din], rng: &r), dy = Tensor.randn([n, dout], rng: &r)
            return { _ = lin.forward(x); _ = lin.backward(dy) }
        }
    }
    for (b, cin, cout, px) in [(8, 64, 64, 32), (8, 128, 128, 16)] {
        let g = Conv2dGeometry(batch: b, inChannels: cin, height: px, width: px, outChannels: cout, kernel: 3, stride: 1, padding: 1)
        compare("conv3x3 \(b)x\(cin)x\(px)x\(px) -> \(cout) fwd", flops: g.forwardFlops) { be, r in
            let conv = Conv2d(cin, cout, kernel: 3, backend: be, rng: &r), x = Tensor.randn([b, cin, px, px], rng: &r)
            return { _ = conv.forward(x) }
        }
        compare("conv3x3 \(b)x\(cin)x\(px)x\(px) -> \(cout) fwd+bwd", flops: 3 * g.forwardFlops) { be, r in
            let conv = Conv2d(cin, cout, kernel: 3, backend: be, rng: &r), x = Tensor.randn([b, cin, px, px], rng: &r)
            let dy = Tensor.randn([b, cout, g.outHeight, g.outWidth], rng: &r)
            return { _ = conv.forward(x); _ = conv.backward(dy) }
        }
    }
    do {
        let (b, t, d, s, c) = (32, 64, 256, 32, 384)
        let flops = attentionFlops(b: b, t: t, s: t, d: d, c: d) + attentionFlops(b: b, t: t, s: s, d: d, c: c) + 2 * 2 * Double(b * t * d * 4 * d)
        func block(_ be: ComputeBackend, _ r: inout SeededRNG) -> (TransformerBlock, x: Tensor, dy: Tensor, ctx: Tensor) {
            (TransformerBlock(dim: d, heads: 8, contextDim: c, backend: be, rng: &r),
             Tensor.randn([b, t, d], rng: &r), Tensor.randn([b, t, d], rng: &r), Tensor.randn([b, s, c], rng: &r))
        }
        compare("block \(b)x\(t)x\(d) fwd", flops: flops) { be, r in
            let (blk, x, _, ctx) = block(be, &r)
            return { _ = blk.forward(x, context: ctx) }
        }
        compare("block \(b)x\(t)x\(d) fwd+bwd", flops: 3 * flops) { be, r in
            let (blk, x, dy, ctx) = block(be, &r)
            return { _ = blk.forward(x, context: ctx); _ = blk.backward(dy) }
        }
    }
    if OneDNNBackend.bf16Support != .amx {
        print("  note: this CPU has no AMX (oneDNN reports \(OneDNNBackend.isaName)): fp32 is the fast path here.")
    }
}
