import ArgumentParser
import Foundation
import MuseCore
import MuseEngine

/// `muse-bench`: engine benchmarks, each figure printed next to its ceiling
/// (the matmul peak of the backend the cases run on, measured in the same run).
struct MuseBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "muse-bench",
        abstract: "Benchmarks of the muse-swift engine.",
        discussion: """
        Prints the default compute backend and why it was chosen, the OpenBLAS
        kernel set, and the OpenBLAS sgemm peak measured on this machine with an
        explicit fp32 OpenBLAS backend (1 thread and one per core, large square
        sizes), whatever the default backend is. Then, on the default backend,
        the linear layer, attention, 3x3 convolution and a full transformer block
        (forward, and forward+backward) at the shapes the Muse stages use:
        milliseconds, GFLOP/s (GEMM/convolution FLOPs only) and the fraction of
        the ceiling: the all-core sgemm peak, or on a bf16 default the oneDNN
        bf16 matmul peak measured the same way. Forward+backward counts 3x the
        forward FLOPs. Layer and group normalization (section norm) move memory
        rather than compute: they are printed next to the time of one copy of
        their input, measured in the same run.
        """)

    @Flag(help: "Fewer shapes and repetitions (a few seconds).")
    var quick = false

    @Option(help: "Seconds to spend timing each case (best time is reported).")
    var seconds: Double = 0.6

    @Option(name: .customLong("text-encoder"), help: "Folder of the text encoder's model (scripts/fetch-text-encoder.sh puts it here).")
    var textEncoder = ".cache/text-encoder/all-MiniLM-L6-v2"

    @Flag(name: .customLong("skip-bf16"), help: "Skip the bf16 (oneDNN) vs fp32 (OpenBLAS) comparison.")
    var skipBF16 = false

    @Flag(name: .customLong("peak-only"), help: "Only the header and the sgemm ceiling (backend, kernel set, 1-thread and all-core peaks).")
    var peakOnly = false

    @Option(help: "Comma-separated sections to run after the ceiling: \(MuseBench.sections.joined(separator: ", ")) (default: all).")
    var only: String = ""

    @Option(name: .customLong("conv3x3"),
            help: "Variant of the direct 3x3 convolution kernel the conv and tokenizer sections time on the fp32 backend: auto (the default: AVX-512 where the CPU has it, shifted GEMMs elsewhere), avx2 (off by default until an AVX2 machine shows it beats OpenBLAS's AVX2 GEMMs) or avx512.")
    var conv3x3 = "auto"

    static let sections = ["linear", "attention", "conv", "block", "tokenizer", "base", "norm", "backends", "text-encoder"]

    func validate() throws {
        for s in selected where !MuseBench.sections.contains(s) {
            throw ValidationError("--only: unknown section '\(s)' (sections: \(MuseBench.sections.joined(separator: ", ")))")
        }
        guard let v = MuseBench.conv3x3Variants[conv3x3] else {
            throw ValidationError("--conv3x3: '\(conv3x3)' is not one of auto, avx2, avx512")
        }
        if v != 0 && !OpenBLASBackend.hasDirectConv3x3(variant: v) {
            throw ValidationError("--conv3x3 \(conv3x3): this CPU has no \(conv3x3 == "avx2" ? "AVX2 + FMA" : "AVX-512")")
        }
    }

    static let conv3x3Variants: [String: Int32] = ["auto": 0, "avx2": 1, "avx512": 2]

    var selected: [String] {
        only.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }
    func runs(_ section: String) -> Bool { selected.isEmpty || selected.contains(section) }

    func run() throws {
        let budget = quick ? 0.15 : seconds
        let backend = Engine.backend
        print("muse-bench: default backend \(backend.name) (\(Engine.backendDecision.reason)); \(Engine.workers) cores, BLAS threads \(Engine.blasThreads)")
        // The ceiling is timed on an explicit fp32 OpenBLAS backend, whatever the
        // default; creating it selects OpenBLAS's kernels first (BLASSetup).
        let openBLAS = OpenBLASBackend()
        print("OpenBLAS kernels: \(BLASSetup.note); \(AllocatorSetup.note)")
        let sgemm = sgemmPeak(openBLAS, quick: quick, budget: budget)
        if peakOnly { return }
        var ceiling = (name: "\(sgemm.threads)-thread OpenBLAS sgemm peak", gflops: sgemm.all)
        if backend.dtype != .float32 {
            ceiling = (name: "\(backend.name) matmul peak", gflops: matmulPeak(backend, quick: quick, budget: budget))
            print(String(format: "%@ (square n x n x n, default threads): %.1f GFLOP/s", ceiling.name, ceiling.gflops))
        }
        print("cases below run on \(backend.name); \"of peak\" is of the \(ceiling.name)")
        var report = Report(peak: ceiling.gflops, peakName: ceiling.name)
        if runs("linear") { benchLinear(&report, backend: backend, budget: budget) }
        if runs("attention") { benchAttention(&report, backend: backend, budget: budget) }
        // The conv and tokenizer sections' fp32 backend with the --conv3x3 variant.
        let convBackend: ComputeBackend = backend is OpenBLASBackend
            ? OpenBLASBackend(conv3x3: .direct(variant: MuseBench.conv3x3Variants[conv3x3]!)) : backend
        if conv3x3 != "auto" { print("conv and tokenizer sections: \(convBackend.name)") }
        if runs("conv") { benchConv(&report, backend: convBackend, budget: budget) }
        if runs("block") { benchBlock(&report, backend: backend, budget: budget) }
        if runs("tokenizer") { try benchTokenizer(&report, budget: budget, backend: convBackend) }
        if runs("base") { try benchBase(&report, budget: budget, backend: backend) }
        report.summary()
        if runs("norm") { benchNorms(budget: budget) }
        if runs("backends") && !skipBF16 { try compareBackends(budget: budget, sgemmPeak: sgemm.all) }
        if runs("text-encoder") { try benchTextEncoder(modelDirectory: textEncoder) }
    }
}

// MARK: - Timing

/// Best wall time in seconds of `body` over repetitions filling `budget` seconds (at least 2 runs after a warm-up).
func bestTime(budget: Double, _ body: () -> Void) -> Double {
    withoutActuallyEscaping(body) { bestTimesInterleaved(budget: budget, [$0])[0] }
}

/// Best wall time of each body, the bodies run in turn (a, b, c, a, b, c, ...) so that
/// the slow drifts of a shared VM's speed hit them alike; for side-by-side comparisons.
func bestTimesInterleaved(budget: Double, _ bodies: [() -> Void]) -> [Double] {
    for body in bodies { body() }
    var best = [Double](repeating: .infinity, count: bodies.count), spent = 0.0, rounds = 0
    while rounds < 2 || (spent < budget * Double(bodies.count) && rounds < 200) {
        for (i, body) in bodies.enumerated() {
            let t0 = DispatchTime.now().uptimeNanoseconds
            body()
            let dt = Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9
            best[i] = min(best[i], dt); spent += dt
        }
        rounds += 1
    }
    return best
}

struct Report {
    let peak: Double
    let peakName: String
    var rows: [(group: String, name: String, fraction: Double)] = []

    init(peak: Double, peakName: String) {
        self.peak = peak
        self.peakName = peakName
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
        print("Goals (fraction of the \(peakName) \(String(format: "%.1f", peak)) GFLOP/s):")
        let goals: [(String, Double, String)] = [("linear", 0.6, "matmul-shaped work (linear) >= 60%"),
                                                 ("conv", 0.4, "3x3 convolution >= 40%"),
                                                 ("block-train", 0.4, "transformer block training step (fwd+bwd) >= 40%"),
                                                 ("tokenizer-train", 0.5, "image tokenizer training step (fwd+bwd) >= 50%"),
                                                 ("base-train", 0.6, "base transformer training step, batch 256 (fwd+bwd) >= 60%"),
                                                 ("base-sample", 0.5, "base transformer sampling step (cond + uncond) >= 50%"),
                                                 ("base-generate-8", 0.5, "base transformer whole generation, batch 8 >= 50%")]
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

// MARK: - Ceilings

/// The OpenBLAS sgemm peak: square `n x n x n` GEMMs on `backend` with 1
/// OpenBLAS thread and with one per core (`Engine.workers`), best of repeats
/// per size, best size. Returns both peaks and the all-core thread count.
func sgemmPeak(_ backend: OpenBLASBackend, quick: Bool, budget: Double) -> (one: Double, all: Double, threads: Int) {
    let sizes = quick ? [1024, 2048] : [1024, 2048, 3072]
    let threadCounts = Engine.workers > 1 ? [1, Engine.workers] : [1]
    var rng = SeededRNG(seed: 1)
    let saved = Engine.blasThreads
    defer { Engine.blasThreads = saved }
    var peaks = [Int: Double]()
    print("OpenBLAS sgemm peak (\(backend.name), square n x n x n, best of repeats):")
    for n in sizes {
        let a = Tensor.randn([n, n], rng: &rng), b = Tensor.randn([n, n], rng: &rng)
        var c = Tensor(zeros: [n, n])
        var line = "  n = \(n):"
        for threads in threadCounts {
            Engine.blasThreads = threads
            let got = Engine.blasThreads
            if got != threads { print("  warning: asked OpenBLAS for \(threads) threads, it reports \(got)") }
            // CPU time over wall time while timing: about the number of threads
            // that really ran (less when other processes hold the cores).
            let cpu0 = processCPUSeconds(), wall0 = DispatchTime.now().uptimeNanoseconds
            let t = a.data.withUnsafeBufferPointer { ap in b.data.withUnsafeBufferPointer { bp in c.data.withUnsafeMutableBufferPointer { cp in
                bestTime(budget: budget) {
                    backend.matmul(m: n, n: n, k: n, a: ap.baseAddress!, b: bp.baseAddress!, c: cp.baseAddress!)
                }
            }}}
            let busy = (processCPUSeconds() - cpu0) / (Double(DispatchTime.now().uptimeNanoseconds - wall0) * 1e-9)
            let gf = 2 * Double(n * n * n) / t * 1e-9
            peaks[threads] = max(peaks[threads] ?? 0, gf)
            line += String(format: "  %d thread%@ %.1f GFLOP/s (CPU %.1fx wall)", threads, threads == 1 ? " " : "s", gf, busy)
        }
        print(line)
    }
    let one = peaks[1] ?? 0, all = peaks[threadCounts.last!] ?? 0
    print(String(format: "  peak: 1 thread %.1f GFLOP/s, %d threads %.1f GFLOP/s (%.2fx)", one, threadCounts.last!, all, all / max(one, 1e-9)))
    return (one, all, threadCounts.last!)
}

/// User + system CPU seconds of this process, all threads.
func processCPUSeconds() -> Double {
    var u = rusage()
    getrusage(RUSAGE_SELF.rawValue, &u)
    return Double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + Double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) * 1e-6
}

/// Matmul peak of another backend (e.g. oneDNN bf16) at its own default
/// threading: square sizes as `sgemmPeak`, best of repeats, best size.
func matmulPeak(_ backend: ComputeBackend, quick: Bool, budget: Double) -> Double {
    var rng = SeededRNG(seed: 1)
    var peak = 0.0
    for n in quick ? [1024, 2048] : [1024, 2048, 3072] {
        let a = Tensor.randn([n, n], rng: &rng), b = Tensor.randn([n, n], rng: &rng)
        var c = Tensor(zeros: [n, n])
        let t = a.data.withUnsafeBufferPointer { ap in b.data.withUnsafeBufferPointer { bp in c.data.withUnsafeMutableBufferPointer { cp in
            bestTime(budget: budget) { backend.matmul(m: n, n: n, k: n, a: ap.baseAddress!, b: bp.baseAddress!, c: cp.baseAddress!) }
        }}}
        peak = max(peak, 2 * Double(n * n * n) / t * 1e-9)
    }
    return peak
}

// MARK: - Cases

func benchLinear(_ r: inout Report, backend: ComputeBackend, budget: Double) {
    r.header("linear layer y = x W^T + b (tokens = batch x seq)")
    var rng = SeededRNG(seed: 2)
    for (n, din, dout) in [(8 * 256, 512, 2048), (8 * 256, 2048, 512), (64 * 64, 256, 1024), (32 * 256, 512, 512)] {
        let lin = Linear(din, dout, backend: backend, rng: &rng)
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

func benchAttention(_ r: inout Report, backend: ComputeBackend, budget: Double) {
    r.header("multi-head attention (8 heads, with q/k/v/o projections)")
    var rng = SeededRNG(seed: 3)
    for (b, t, d, s, c) in [(8, 256, 512, 256, 512), (32, 64, 256, 64, 256), (8, 256, 512, 32, 384)] {
        let cross = s != t || c != d
        let mha = MultiHeadAttention(dim: d, heads: 8, contextDim: c, backend: backend, rng: &rng)
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

func benchConv(_ r: inout Report, backend: ComputeBackend, budget: Double) {
    r.header("2D convolution NCHW (batch x channels x px)")
    var rng = SeededRNG(seed: 4)
    // 3x3 stride 1 runs in the direct kernel (shifted GEMMs where the CPU has none) on the
    // fp32 backend; its shifted-GEMM and im2col paths are timed beside it.
    let fp32 = backend is OpenBLASBackend
    let comparisons: [(String, ComputeBackend)] = fp32
        ? [("shifted GEMMs", OpenBLASBackend(conv3x3: .shiftedGEMM)), ("im2col", OpenBLASBackend(conv3x3: .im2col))] : []
    for (b, cin, cout, px, k, s) in [(8, 128, 128, 32, 3, 1), (8, 64, 64, 64, 3, 1), (16, 32, 32, 64, 3, 1),
                                     (64, 32, 32, 32, 3, 1), (8, 128, 128, 16, 3, 1), (8, 64, 128, 64, 3, 2),
                                     (8, 128, 64, 32, 1, 1)] {
        let conv = Conv2d(cin, cout, kernel: k, stride: s, backend: backend, rng: &rng)
        let x = Tensor.randn([b, cin, px, px], rng: &rng)
        let g = conv.geometry(x.shape)
        let dy = Tensor.randn([b, cout, g.outHeight, g.outWidth], rng: &rng)
        let group = k == 3 ? "conv" : "conv1x1"
        let name = "conv\(k)x\(k) s\(s) \(b)x\(cin)x\(px)x\(px) -> \(cout)"
        r.add(group, name + " fwd", flops: g.forwardFlops, seconds: bestTime(budget: budget) { _ = conv.forward(x) })
        // The comparison paths run interleaved with the default one.
        let others = k == 3 && s == 1 ? comparisons : []
        let refs = others.map { Conv2d(cin, cout, kernel: k, stride: s, backend: $0.1, rng: &rng) }
        let times = bestTimesInterleaved(budget: budget, ([conv] + refs).map { c in { _ = c.forward(x); _ = c.backward(dy) } })
        r.add(group, name + " fwd+bwd", flops: 3 * g.forwardFlops, seconds: times[0])
        for (i, (label, _)) in others.enumerated() {
            r.add("conv-compare", name + " fwd+bwd (\(label), for comparison)", flops: 3 * g.forwardFlops, seconds: times[i + 1])
        }
    }
}

func benchBlock(_ r: inout Report, backend: ComputeBackend, budget: Double) {
    r.header("transformer block (pre-LN self-attn + cross-attn to 32x384 text + MLP 4x, GELU tanh)")
    var rng = SeededRNG(seed: 5)
    for (b, t, d) in [(8, 256, 512), (32, 64, 256), (16, 256, 256)] {
        let s = 32, c = 384
        let blk = TransformerBlock(dim: d, heads: 8, contextDim: c, backend: backend, rng: &rng)
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
