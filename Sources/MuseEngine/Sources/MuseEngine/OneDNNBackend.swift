import CDNNL
import MuseCore
import Foundation

/// The bf16 compute backend: oneDNN (Debian libdnnl 2.6) matmul and
/// convolution with bf16 operands and fp32 accumulation and outputs. Float32
/// operands are rounded to bf16 at the seam (round to nearest even); results,
/// bias and gradients stay Float32, so training keeps fp32 master weights and
/// optimizer state. Primitives are created once per shape and cached.
///
/// On a CPU with AMX (`avx512_core_amx`) oneDNN runs these on the tile units;
/// with AVX512-BF16 alone it measured 0.3-0.6x of fp32 OpenBLAS, and with only
/// AVX-512 it emulates bf16, slower still, which is why `MUSE_BACKEND=auto`
/// picks this backend only with AMX and a start-up comparison in its favour
/// (`BackendChoice.decide`); below AVX-512 (e.g. AVX2-only CPUs) oneDNN 2.x
/// has no bf16 at all and `init` throws.
public final class OneDNNBackend: ComputeBackend {
    public let dtype: DType = .bfloat16
    public var name: String { "oneDNN bf16 (\(OneDNNBackend.isaName))" }

    private var engine: dnnl_engine_t?
    private var stream: dnnl_stream_t?
    private var matmuls: [MatmulKey: dnnl_primitive_t] = [:]
    private var convs: [Conv2dGeometry: ConvPrimitives] = [:]
    private let lock = NSLock()

    /// Throws where oneDNN cannot compute bf16 on this CPU (oneDNN 2.x needs at
    /// least AVX-512 for bf16 primitives; on AVX2-only CPUs it has none).
    public init() throws {
        if let why = OneDNNBackend.unavailableReason { throw MuseError(why) }
        AllocatorSetup.ensure()
        try OneDNNBackend.check(dnnl_engine_create(&engine, dnnl_cpu, 0), "engine")
        try OneDNNBackend.check(dnnl_stream_create(&stream, engine, dnnl_stream_default_flags.rawValue), "stream")
    }

    /// The best instruction set oneDNN can use on this CPU.
    public static var isa: dnnl_cpu_isa_t { dnnl_get_effective_cpu_isa() }
    public static var isaName: String {
        switch isa.rawValue {
        case let v where v & dnnl_cpu_isa_avx512_core_amx.rawValue == dnnl_cpu_isa_avx512_core_amx.rawValue: return "avx512_core_amx"
        case let v where v & dnnl_cpu_isa_avx512_core_bf16.rawValue == dnnl_cpu_isa_avx512_core_bf16.rawValue: return "avx512_core_bf16"
        case let v where v & dnnl_cpu_isa_avx512_core.rawValue == dnnl_cpu_isa_avx512_core.rawValue: return "avx512_core (bf16 emulated)"
        case let v where v & dnnl_cpu_isa_avx2.rawValue == dnnl_cpu_isa_avx2.rawValue: return "avx2 (no bf16)"
        default: return "isa 0x\(String(isa.rawValue, radix: 16)) (no bf16)"
        }
    }
    /// Whether oneDNN can run bf16 matmul and convolution here at all (natively or emulated).
    public static var isAvailable: Bool { unavailableReason == nil }

    /// Why the bf16 backend cannot run on this CPU, or nil when it can: oneDNN
    /// 2.x implements bf16 primitives only from AVX-512 (`avx512_core`) up.
    public static var unavailableReason: String? {
        let core = dnnl_cpu_isa_avx512_core.rawValue
        if isa.rawValue & core == core { return nil }
        return "the oneDNN bf16 backend needs a CPU with AVX-512 (oneDNN reports \(isaName)); use MUSE_BACKEND=fp32"
    }

    /// What oneDNN can do with bf16 on this CPU (what `MUSE_BACKEND=auto` decides on).
    public static var bf16Support: BF16Support { BF16Support(oneDNNISA: UInt32(isa.rawValue)) }

    static func check(_ s: dnnl_status_t, _ what: String) throws {
        guard s == dnnl_success else { throw MuseError("oneDNN \(what) failed (status \(s.rawValue))") }
    }
    /// Failures here are programmer errors (a shape oneDNN refuses); stop with the reason.
    static func must(_ s: dnnl_status_t, _ what: String) {
        if s != dnnl_success { preconditionFailure("MuseEngine oneDNN: \(what) failed (status \(s.rawValue))") }
    }

    // MARK: bf16 conversion

    /// The bf16 bit pattern of `f`, rounded to nearest even (MuseCore's `bfloat16Bits`).
    @inline(__always) static func roundToBF16(_ f: Float) -> UInt16 { bfloat16Bits(f) }

    /// Rounds Float32 to bf16 (`roundToBF16`), optionally transposing a `[rows, cols]`
    /// source read with leading dimension `ld` (so the result is `[cols, rows]`).
    static func toBF16(_ src: UnsafePointer<Float>, rows: Int, cols: Int, ld: Int, transpose: Bool,
                       into dst: UnsafeMutablePointer<UInt16>) {
        if transpose {
            for r in 0..<rows { for c in 0..<cols { dst[c * rows + r] = roundToBF16(src[r * ld + c]) } }
        } else {
            for r in 0..<rows { for c in 0..<cols { dst[r * cols + c] = roundToBF16(src[r * ld + c]) } }
        }
    }

    // MARK: memory helpers

    static func md(_ dims: [Int], _ type: dnnl_data_type_t, _ tag: dnnl_format_tag_t) -> dnnl_memory_desc_t {
        var d = dnnl_memory_desc_t()
        var dd = dims.map { Int64($0) }
        must(dnnl_memory_desc_init_by_tag(&d, Int32(dims.count), &dd, type, tag), "memory desc \(dims)")
        return d
    }

    func memory(_ desc: UnsafePointer<dnnl_memory_desc_t>, _ ptr: UnsafeMutableRawPointer?) -> dnnl_memory_t {
        var m: dnnl_memory_t?
        OneDNNBackend.must(dnnl_memory_create(&m, desc, engine, ptr ?? UnsafeMutableRawPointer(bitPattern: -1)), "memory")
        return m!
    }

    func execute(_ p: dnnl_primitive_t, _ args: [(Int32, dnnl_memory_t)]) {
        var a = args.map { dnnl_exec_arg_t(arg: $0.0, memory: $0.1) }
        OneDNNBackend.must(dnnl_primitive_execute(p, stream, Int32(a.count), &a), "execute")
        OneDNNBackend.must(dnnl_stream_wait(stream), "stream wait")
        for (_, m) in args { dnnl_memory_destroy(m) }
    }

    // MARK: GEMM

    struct MatmulKey: Hashable { let m, n, k, ldc: Int; let alpha, beta: Float }

    private func matmulPrimitive(_ key: MatmulKey) -> dnnl_primitive_t {
        if let p = matmuls[key] { return p }
        var src = OneDNNBackend.md([key.m, key.k], dnnl_bf16, dnnl_ab)
        var wei = OneDNNBackend.md([key.k, key.n], dnnl_bf16, dnnl_ab)
        var dst = dnnl_memory_desc_t()
        var dd: [Int64] = [Int64(key.m), Int64(key.n)], ds: [Int64] = [Int64(key.ldc), 1]
        OneDNNBackend.must(dnnl_memory_desc_init_by_strides(&dst, 2, &dd, dnnl_f32, &ds), "dst desc")
        var desc = dnnl_matmul_desc_t()
        OneDNNBackend.must(dnnl_matmul_desc_init(&desc, &src, &wei, nil, &dst), "matmul desc")
        var attr: dnnl_primitive_attr_t?
        OneDNNBackend.must(dnnl_primitive_attr_create(&attr), "attr")
        if key.alpha != 1 { var s = key.alpha; OneDNNBackend.must(dnnl_primitive_attr_set_output_scales(attr, 1, 0, &s), "scales") }
        if key.beta != 0 {
            var po: dnnl_post_ops_t?
            OneDNNBackend.must(dnnl_post_ops_create(&po), "post ops")
            OneDNNBackend.must(dnnl_post_ops_append_sum(po, key.beta), "sum post op")
            OneDNNBackend.must(dnnl_primitive_attr_set_post_ops(attr, po), "set post ops")
            dnnl_post_ops_destroy(po)
        }
        var pd: dnnl_primitive_desc_t?
        OneDNNBackend.must(dnnl_primitive_desc_create(&pd, &desc, attr, engine, nil), "matmul primitive desc \(key)")
        var p: dnnl_primitive_t?
        OneDNNBackend.must(dnnl_primitive_create(&p, pd), "matmul primitive")
        dnnl_primitive_desc_destroy(pd); dnnl_primitive_attr_destroy(attr)
        matmuls[key] = p!
        return p!
    }

    public func gemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                     a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                     beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        if m == 0 || n == 0 { return }
        let abf = UnsafeMutablePointer<UInt16>.allocate(capacity: m * k), bbf = UnsafeMutablePointer<UInt16>.allocate(capacity: k * n)
        defer { abf.deallocate(); bbf.deallocate() }
        // Logical A is [m, k]; stored [k, m] when transposed.
        OneDNNBackend.toBF16(a, rows: transA ? k : m, cols: transA ? m : k, ld: lda, transpose: transA, into: abf)
        OneDNNBackend.toBF16(b, rows: transB ? n : k, cols: transB ? k : n, ld: ldb, transpose: transB, into: bbf)
        lock.lock(); defer { lock.unlock() }
        let key = MatmulKey(m: m, n: n, k: k, ldc: ldc, alpha: alpha, beta: beta)
        let p = matmulPrimitive(key)
        var src = OneDNNBackend.md([m, k], dnnl_bf16, dnnl_ab), wei = OneDNNBackend.md([k, n], dnnl_bf16, dnnl_ab)
        var dst = dnnl_memory_desc_t()
        var dd: [Int64] = [Int64(m), Int64(n)], ds: [Int64] = [Int64(ldc), 1]
        OneDNNBackend.must(dnnl_memory_desc_init_by_strides(&dst, 2, &dd, dnnl_f32, &ds), "dst desc")
        execute(p, [(DNNL_ARG_SRC, memory(&src, UnsafeMutableRawPointer(abf))),
                    (DNNL_ARG_WEIGHTS, memory(&wei, UnsafeMutableRawPointer(bbf))),
                    (DNNL_ARG_DST, memory(&dst, UnsafeMutableRawPointer(c)))])
    }

    public func gemmBatched(count: Int, transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                            a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                            beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int,
                            offsets: (Int) -> (a: Int, b: Int, c: Int)) {
        // oneDNN parallelises inside each GEMM.
        for i in 0..<count {
            let o = offsets(i)
            gemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a + o.a, lda: lda,
                 b: b + o.b, ldb: ldb, beta: beta, c: c + o.c, ldc: ldc)
        }
    }

    // MARK: convolution

    struct ConvPrimitives { let forward: dnnl_primitive_t; let forwardNoBias: dnnl_primitive_t
                            let backwardData: dnnl_primitive_t; let backwardWeights: dnnl_primitive_t }

    private func descs(_ g: Conv2dGeometry) -> (src: dnnl_memory_desc_t, wei: dnnl_memory_desc_t, bias: dnnl_memory_desc_t, dst: dnnl_memory_desc_t,
                                                 srcF: dnnl_memory_desc_t, weiF: dnnl_memory_desc_t, dstB: dnnl_memory_desc_t) {
        (OneDNNBackend.md([g.batch, g.inChannels, g.height, g.width], dnnl_bf16, dnnl_nchw),
         OneDNNBackend.md([g.outChannels, g.inChannels, g.kernel, g.kernel], dnnl_bf16, dnnl_oihw),
         OneDNNBackend.md([g.outChannels], dnnl_f32, dnnl_a),
         OneDNNBackend.md([g.batch, g.outChannels, g.outHeight, g.outWidth], dnnl_f32, dnnl_nchw),
         OneDNNBackend.md([g.batch, g.inChannels, g.height, g.width], dnnl_f32, dnnl_nchw),
         OneDNNBackend.md([g.outChannels, g.inChannels, g.kernel, g.kernel], dnnl_f32, dnnl_oihw),
         OneDNNBackend.md([g.batch, g.outChannels, g.outHeight, g.outWidth], dnnl_bf16, dnnl_nchw))
    }

    /// oneDNN's right (bottom) padding for one spatial dimension of `size` with
    /// `padding` on the left (top): the amount past the input that the last of
    /// `out` windows reaches, `(out - 1) * stride + kernel - size - padding`.
    /// oneDNN requires `(size + padding + right - kernel) / stride + 1 == out`;
    /// with `out = floor((size + 2 * padding - kernel) / stride) + 1` this is
    /// between `padding - stride + 1` and `padding`, negative where the last
    /// window ends before the input does (k1 s2 on an even size: -1).
    static func rightPadding(size: Int, out: Int, kernel: Int, stride: Int, padding: Int) -> Int {
        (out - 1) * stride + kernel - size - padding
    }

    private func convPrimitives(_ g: Conv2dGeometry) -> ConvPrimitives {
        if let p = convs[g] { return p }
        var d = descs(g)
        var strides: [Int64] = [Int64(g.stride), Int64(g.stride)], pad: [Int64] = [Int64(g.padding), Int64(g.padding)]
        var padR: [Int64] = [Int64(OneDNNBackend.rightPadding(size: g.height, out: g.outHeight, kernel: g.kernel, stride: g.stride, padding: g.padding)),
                             Int64(OneDNNBackend.rightPadding(size: g.width, out: g.outWidth, kernel: g.kernel, stride: g.stride, padding: g.padding))]
        func make(_ desc: UnsafeMutableRawPointer, hint: dnnl_primitive_desc_t?) -> (dnnl_primitive_t, dnnl_primitive_desc_t) {
            var pd: dnnl_primitive_desc_t?
            OneDNNBackend.must(dnnl_primitive_desc_create(&pd, desc, nil, engine, hint), "convolution primitive desc \(g)")
            var p: dnnl_primitive_t?
            OneDNNBackend.must(dnnl_primitive_create(&p, pd), "convolution primitive")
            return (p!, pd!)
        }
        var fwd = dnnl_convolution_desc_t(), fwdNB = dnnl_convolution_desc_t(), bwdD = dnnl_convolution_desc_t(), bwdW = dnnl_convolution_desc_t()
        OneDNNBackend.must(dnnl_convolution_forward_desc_init(&fwd, dnnl_forward_training, dnnl_convolution_direct, &d.src, &d.wei, &d.bias, &d.dst, &strides, &pad, &padR), "conv fwd desc")
        OneDNNBackend.must(dnnl_convolution_forward_desc_init(&fwdNB, dnnl_forward_training, dnnl_convolution_direct, &d.src, &d.wei, nil, &d.dst, &strides, &pad, &padR), "conv fwd desc")
        OneDNNBackend.must(dnnl_convolution_backward_data_desc_init(&bwdD, dnnl_convolution_direct, &d.srcF, &d.wei, &d.dstB, &strides, &pad, &padR), "conv bwd data desc")
        OneDNNBackend.must(dnnl_convolution_backward_weights_desc_init(&bwdW, dnnl_convolution_direct, &d.src, &d.weiF, &d.bias, &d.dstB, &strides, &pad, &padR), "conv bwd weights desc")
        let (pf, pdf) = make(&fwd, hint: nil)
        let (pfn, pdfn) = make(&fwdNB, hint: nil)
        let (pbd, pdbd) = make(&bwdD, hint: pdf)
        let (pbw, pdbw) = make(&bwdW, hint: pdf)
        for pd in [pdf, pdfn, pdbd, pdbw] { dnnl_primitive_desc_destroy(pd) }
        let p = ConvPrimitives(forward: pf, forwardNoBias: pfn, backwardData: pbd, backwardWeights: pbw)
        convs[g] = p
        return p
    }

    public func conv2dForward(_ g: Conv2dGeometry, x: UnsafePointer<Float>, w: UnsafePointer<Float>,
                              bias: UnsafePointer<Float>?, y: UnsafeMutablePointer<Float>) {
        let nx = g.batch * g.inChannels * g.height * g.width, nw = g.outChannels * g.patchSize
        let xb = UnsafeMutablePointer<UInt16>.allocate(capacity: nx), wb = UnsafeMutablePointer<UInt16>.allocate(capacity: nw)
        defer { xb.deallocate(); wb.deallocate() }
        OneDNNBackend.toBF16(x, rows: 1, cols: nx, ld: nx, transpose: false, into: xb)
        OneDNNBackend.toBF16(w, rows: 1, cols: nw, ld: nw, transpose: false, into: wb)
        lock.lock(); defer { lock.unlock() }
        let p = convPrimitives(g)
        var d = descs(g)
        var args: [(Int32, dnnl_memory_t)] = [(DNNL_ARG_SRC, memory(&d.src, UnsafeMutableRawPointer(xb))),
                                               (DNNL_ARG_WEIGHTS, memory(&d.wei, UnsafeMutableRawPointer(wb))),
                                               (DNNL_ARG_DST, memory(&d.dst, UnsafeMutableRawPointer(y)))]
        if let bias { args.append((DNNL_ARG_BIAS, memory(&d.bias, UnsafeMutableRawPointer(mutating: bias)))) }
        execute(bias == nil ? p.forwardNoBias : p.forward, args)
    }

    public func conv2dBackward(_ g: Conv2dGeometry, x: UnsafePointer<Float>, w: UnsafePointer<Float>,
                               dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>?,
                               dw: UnsafeMutablePointer<Float>, dbias: UnsafeMutablePointer<Float>?) {
        let nx = g.batch * g.inChannels * g.height * g.width, nw = g.outChannels * g.patchSize
        let ny = g.batch * g.outChannels * g.outHeight * g.outWidth
        let xb = UnsafeMutablePointer<UInt16>.allocate(capacity: nx), wb = UnsafeMutablePointer<UInt16>.allocate(capacity: nw)
        let dyb = UnsafeMutablePointer<UInt16>.allocate(capacity: ny)
        let dwNew = UnsafeMutablePointer<Float>.allocate(capacity: nw), dbNew = UnsafeMutablePointer<Float>.allocate(capacity: g.outChannels)
        defer { xb.deallocate(); wb.deallocate(); dyb.deallocate(); dwNew.deallocate(); dbNew.deallocate() }
        OneDNNBackend.toBF16(x, rows: 1, cols: nx, ld: nx, transpose: false, into: xb)
        OneDNNBackend.toBF16(w, rows: 1, cols: nw, ld: nw, transpose: false, into: wb)
        OneDNNBackend.toBF16(dy, rows: 1, cols: ny, ld: ny, transpose: false, into: dyb)
        lock.lock(); defer { lock.unlock() }
        let p = convPrimitives(g)
        var d = descs(g)
        if let dx {
            execute(p.backwardData, [(DNNL_ARG_DIFF_DST, memory(&d.dstB, UnsafeMutableRawPointer(dyb))),
                                     (DNNL_ARG_WEIGHTS, memory(&d.wei, UnsafeMutableRawPointer(wb))),
                                     (DNNL_ARG_DIFF_SRC, memory(&d.srcF, UnsafeMutableRawPointer(dx)))])
        }
        execute(p.backwardWeights, [(DNNL_ARG_SRC, memory(&d.src, UnsafeMutableRawPointer(xb))),
                                    (DNNL_ARG_DIFF_DST, memory(&d.dstB, UnsafeMutableRawPointer(dyb))),
                                    (DNNL_ARG_DIFF_WEIGHTS, memory(&d.weiF, UnsafeMutableRawPointer(dwNew))),
                                    (DNNL_ARG_DIFF_BIAS, memory(&d.bias, UnsafeMutableRawPointer(dbNew)))])
        // The seam accumulates weight and bias gradients.
        for i in 0..<nw { dw[i] += dwNew[i] }
        if let dbias { for i in 0..<g.outChannels { dbias[i] += dbNew[i] } }
    }
}
