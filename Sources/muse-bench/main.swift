import ArgumentParser
import Foundation
import MuseCore
import MuseEngine

/// `muse-bench`: engine benchmarks, each figure printed next to its ceiling
/// (the OpenBLAS sgemm peak measured in the same run).
struct MuseBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "muse-bench",
        abstract: "Benchmarks of the muse-swift engine.",
        discussion: """
        Prints the sgemm peak measured on this machine (1 and 2 threads, large
        square sizes), then for the linear layer, attention, 3x3 convolution and a
        full transformer block (forward, and forward+backward) at the shapes the
        Muse stages use: milliseconds, GFLOP/s (GEMM/convolution FLOPs only) and
        the fraction of the 2-thread sgemm peak. Forward+backward counts 3x the
        forward FLOPs.
        """)

    @Flag(help: "Fewer shapes and repetitions (a few seconds).")
    var quick = false

    @Option(help: "Seconds to spend timing each case (best time is reported).")
    var seconds: Double = 0.6

    @Option(name: .customLong("text-encoder"), help: "Folder of the text encoder's model (scripts/fetch-text-encoder.sh puts it here).")
    var textEncoder = ".cache/text-encoder/all-MiniLM-L6-v2"

    @Flag(name: .customLong("skip-bf16"), help: "Skip the bf16 (oneDNN) vs fp32 (OpenBLAS) comparison.")
    var skipBF16 = false

    func run() throws {
        let budget = quick ? 0.15 : seconds
        let cores = ProcessInfo.processInfo.activeProcessorCount
        print("muse-bench: backend \(Engine.backend.name) (\(Engine.backend.dtype.rawValue)), \(cores) cores, BLAS threads \(Engine.blasThreads)")
        print("OpenBLAS kernels: \(BLASSetup.note)")
        let peak = sgemmPeak(quick: quick, budget: budget)
        var report = Report(peak: peak)
        benchLinear(&report, budget: budget)
        benchAttention(&report, budget: budget)
        benchConv(&report, budget: budget)
        benchBlock(&report, budget: budget)
        report.summary()
        if !skipBF16 { try compareBackends(budget: budget, sgemmPeak: peak) }
        try benchTextEncoder(modelDirectory: textEncoder)
    }
}

// MARK: - Timing

/// Best wall time in seconds of `body` over repetitions filling `budget` seconds (at least 2 runs after a warm-up).
func bestTime(budget: Double, _ body: () -> Void) -> Double {
    body()
    var best = Double.infinity, spent = 0.0, runs = 0
    while runs < 2 || (spent < budget && runs < 200) {
        let t0 = DispatchTime.now().uptimeNanoseconds
        body()
        let dt = Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9
        best = min(best, dt); spent += dt; runs += 1
    }
    return best
}

struct Report {
    let peak: Double
    var rows: [(group: String, name: String, fraction: Double)] = []

    init(peak: Double) {
        self.peak = peak
        print("")
        print(pad("case", 58) + pad("ms", 10) + pad("GFLOP/s", 10) + "of peak")
    }

    mutating func add(_ group: String, _ name: String, flops: Double, seconds: Double) {
        let gf = flops / seconds * 1e-9
        rows.append((group, name, gf / peak))
        print(pad(name, 58) + pad(String(format: "%.2f", seconds * 1e3), 10) + pad(String(format: "%.1f", gf), 10)
              + String(format: "%.0f%%", 100 * gf / peak))
    }

    func header(_ s: String) { print("-- " + s) }

    func summary() {
        print("")
        print("Goals (fraction of the 2-thread sgemm peak \(String(format: "%.1f", peak)) GFLOP/s):")
        let goals: [(String, Double, String)] = [("linear", 0.6, "matmul-shaped work (linear) >= 60%"),
                                                 ("conv", 0.4, "3x3 convolution >= 40%"),
                                                 ("block-train", 0.4, "transformer block training step (fwd+bwd) >= 40%")]
        for (g, target, label) in goals {
            let fr = rows.filter { $0.group == g }.map { $0.fraction }
            guard !fr.isEmpty else { continue }
            let lo = fr.min()!, hi = fr.max()!
            let met = fr.filter { $0 >= target }.count
            print("  \(label): \(String(format: "%.0f%%-%.0f%%", 100 * lo, 100 * hi)) -> met at \(met) of \(fr.count) shapes")
        }
    }
}

func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s + " " : s + String(repeating: " ", count: n - s.count) }

// MARK: - sgemm peak

func sgemmPeak(quick: Bool, budget: Double) -> Double {
    let sizes = quick ? [1024, 2048] : [1024, 2048, 3072]
    var rng = SeededRNG(seed: 1)
    let saved = Engine.blasThreads
    var peak2 = 0.0
    print("OpenBLAS sgemm peak (square n x n x n, best of repeats):")
    for n in sizes {
        let a = Tensor.randn([n, n], rng: &rng), b = Tensor.randn([n, n], rng: &rng)
        var c = Tensor(zeros: [n, n])
        var line = "  n = \(n):"
        for threads in [1, 2] {
            Engine.blasThreads = threads
            let t = a.data.withUnsafeBufferPointer { ap in b.data.withUnsafeBufferPointer { bp in c.data.withUnsafeMutableBufferPointer { cp in
                bestTime(budget: budget) {
                    Engine.backend.matmul(m: n, n: n, k: n, a: ap.baseAddress!, b: bp.baseAddress!, c: cp.baseAddress!)
                }
            }}}
            let gf = 2 * Double(n * n * n) / t * 1e-9
            if threads == 2 { peak2 = max(peak2, gf) }
            line += String(format: "  %d thread%@ %.1f GFLOP/s", threads, threads == 1 ? " " : "s", gf)
        }
        print(line)
    }
    Engine.blasThreads = saved
    print(String(format: "  peak (2 threads): %.1f GFLOP/s", peak2))
    return peak2
}

// MARK: - Cases

func benchLinear(_ r: inout Report, budget: Double) {
    r.header("linear layer y = x W^T + b (tokens = batch x seq)")
    var rng = SeededRNG(seed: 2)
    for (n, din, dout) in [(8 * 256, 512, 2048), (8 * 256, 2048, 512), (64 * 64, 256, 1024), (32 * 256, 512, 512)] {
        let lin = Linear(din, dout, rng: &rng)
        let x = Tensor.randn([n, din], rng: &rng), dy = Tensor.randn([n, dout], rng: &rng)
        let flops = 2 * Double(n * din * dout)
        r.add("linear", "linear fwd \(n)x\(din) -> \(dout)", flops: flops, seconds: bestTime(budget: budget) { _ = lin.forward(x) })
        r.add("linear", "linear fwd+bwd \(n)x\(din) -> \(dout)", flops: 3 * flops,
              seconds: bestTime(budget: budget) { _ = lin.forward(x); _ = lin.backward(dy) })
    }
}

func attentionFlops(b: Int, t: Int, s: Int, d: Int, c: Int) -> Double {
    2 * Double(b * t * d * d) * 2 + 2 * Double(b * s * c * d) * 2 + ScaledDotProductAttention.forwardFlops(batch: b, queries: t, keys: s, width: d)
}

func benchAttention(_ r: inout Report, budget: Double) {
    r.header("multi-head attention (8 heads, with q/k/v/o projections)")
    var rng = SeededRNG(seed: 3)
    for (b, t, d, s, c) in [(8, 256, 512, 256, 512), (32, 64, 256, 64, 256), (8, 256, 512, 32, 384)] {
        let cross = s != t || c != d
        let mha = MultiHeadAttention(dim: d, heads: 8, contextDim: c, rng: &rng)
        let x = Tensor.randn([b, t, d], rng: &rng), dy = Tensor.randn([b, t, d], rng: &rng)
        let ctx = cross ? Tensor.randn([b, s, c], rng: &rng) : nil
        let mask: [Bool] = (0..<(b * s)).map { $0 % s < s - 3 }
        let flops = attentionFlops(b: b, t: t, s: s, d: d, c: c)
        let kind = cross ? "cross \(b)x\(t)x\(d) -> \(s)x\(c)" : "self \(b)x\(t)x\(d)"
        r.add("attention", "attention fwd \(kind)", flops: flops,
              seconds: bestTime(budget: budget) { _ = mha.forward(x, context: ctx, keyMask: mask) })
        r.add("attention", "attention fwd+bwd \(kind)", flops: 3 * flops,
              seconds: bestTime(budget: budget) { _ = mha.forward(x, context: ctx, keyMask: mask); _ = mha.backward(dy) })
    }
}

func benchConv(_ r: inout Report, budget: Double) {
    r.header("2D convolution NCHW (batch x channels x px)")
    var rng = SeededRNG(seed: 4)
    for (b, cin, cout, px, k, s) in [(8, 128, 128, 32, 3, 1), (8, 64, 64, 64, 3, 1), (16, 32, 32, 64, 3, 1),
                                     (8, 128, 128, 16, 3, 1), (8, 64, 128, 64, 3, 2), (8, 128, 64, 32, 1, 1)] {
        let conv = Conv2d(cin, cout, kernel: k, stride: s, rng: &rng)
        let x = Tensor.randn([b, cin, px, px], rng: &rng)
        let g = conv.geometry(x.shape)
        let dy = Tensor.randn([b, cout, g.outHeight, g.outWidth], rng: &rng)
        let group = k == 3 ? "conv" : "conv1x1"
        let name = "conv\(k)x\(k) s\(s) \(b)x\(cin)x\(px)x\(px) -> \(cout)"
        r.add(group, name + " fwd", flops: g.forwardFlops, seconds: bestTime(budget: budget) { _ = conv.forward(x) })
        r.add(group, name + " fwd+bwd", flops: 3 * g.forwardFlops,
              seconds: bestTime(budget: budget) { _ = conv.forward(x); _ = conv.backward(dy) })
    }
}

func benchBlock(_ r: inout Report, budget: Double) {
    r.header("transformer block (pre-LN self-attn + cross-attn to 32x384 text + MLP 4x, GELU tanh)")
    var rng = SeededRNG(seed: 5)
    for (b, t, d) in [(8, 256, 512), (32, 64, 256), (16, 256, 256)] {
        let s = 32, c = 384
        let blk = TransformerBlock(dim: d, heads: 8, contextDim: c, rng: &rng)
        let x = Tensor.randn([b, t, d], rng: &rng), dy = Tensor.randn([b, t, d], rng: &rng)
        let ctx = Tensor.randn([b, s, c], rng: &rng)
        let cmask: [Bool] = (0..<(b * s)).map { $0 % s < 20 }
        let flops = attentionFlops(b: b, t: t, s: t, d: d, c: d) + attentionFlops(b: b, t: t, s: s, d: d, c: c)
            + 2 * 2 * Double(b * t * d * 4 * d)
        let name = "block \(b)x\(t)x\(d)"
        r.add("block", name + " fwd", flops: flops,
              seconds: bestTime(budget: budget) { _ = blk.forward(x, context: ctx, contextMask: cmask) })
        r.add("block-train", name + " fwd+bwd", flops: 3 * flops, seconds: bestTime(budget: budget) {
            _ = blk.forward(x, context: ctx, contextMask: cmask); _ = blk.backward(dy)
        })
    }
}

MuseBench.main()
