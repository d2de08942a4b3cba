import Foundation
import CBLAS

/// The fp32 reference backend: OpenBLAS sgemm. Convolutions run per image,
/// images spread over the cores with single-threaded sgemm inside: 3x3 stride-1
/// ones over a padded copy of the input (`ShiftedConv3x3`), their sums over the
/// nine taps in CMuseKernels' direct kernels on AVX-512 CPUs, else as nine
/// shifted GEMMs; 1x1 stride-1 ones as one GEMM, the others
/// lowered by im2col / col2im.
public final class OpenBLASBackend: ComputeBackend {
    /// How 3x3 stride-1 convolutions run.
    public enum Conv3x3Path: Sendable, Equatable {
        /// Lowered by im2col, one GEMM (kept for comparison in muse-bench and as a test reference).
        case im2col
        /// Nine shifted GEMMs over a padded copy of the input.
        case shiftedGEMM
        /// The direct kernel's `variant` (0: the default, AVX-512 where the CPU has it;
        /// 1 AVX2, for tests and benchmarks until an AVX2 machine shows it pays; 2 AVX-512)
        /// for the forward and backward-data sums where the CPU has it and the output
        /// channels are a multiple of its block; shifted GEMMs otherwise.
        case direct(variant: Int32)
    }

    public let dtype = DType.float32
    public var name: String {
        switch conv3x3 {
        case .im2col: return "OpenBLAS fp32 (im2col 3x3)"
        case .shiftedGEMM: return "OpenBLAS fp32 (shifted-GEMM 3x3)"
        case .direct: return directKernel.map { "OpenBLAS fp32 (direct 3x3: \($0.variant == 2 ? "AVX-512" : "AVX2"))" } ?? "OpenBLAS fp32"
        }
    }
    /// How 3x3 stride-1 convolutions run.
    public let conv3x3: Conv3x3Path
    /// The direct kernel in use (nil: none on this CPU, or not asked for).
    let directKernel: ShiftedConv3x3.DirectKernel?

    /// Creating the backend selects OpenBLAS's kernels (`BLASSetup.ensure()`) and
    /// sets up malloc for tensor-sized blocks (`AllocatorSetup.ensure()`).
    /// - Parameter conv3x3: the 3x3 stride-1 convolution path (default: the direct
    ///   kernels on AVX-512 CPUs, shifted GEMMs elsewhere).
    public init(conv3x3: Conv3x3Path = .direct(variant: 0)) {
        self.conv3x3 = conv3x3
        if case .direct(let v) = conv3x3 { directKernel = ShiftedConv3x3.DirectKernel(requested: v) } else { directKernel = nil }
        BLASSetup.ensure()
        AllocatorSetup.ensure()
    }

    /// Whether this CPU has the direct 3x3 kernel's `variant` (1 AVX2, 2 AVX-512).
    public static func hasDirectConv3x3(variant: Int32) -> Bool { ShiftedConv3x3.DirectKernel(requested: variant) != nil }

    public func gemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                     a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                     beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        if m == 0 || n == 0 { return }
        if k == 0 {
            for i in 0..<m { for j in 0..<n { c[i * ldc + j] = beta == 0 ? 0 : beta * c[i * ldc + j] } }
            return
        }
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    public func gemmBatched(count: Int, transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                            a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                            beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int,
                            offsets: (Int) -> (a: Int, b: Int, c: Int)) {
        Parallel.forEach(count) { i in
            let o = offsets(i)
            self.gemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha,
                      a: a + o.a, lda: lda, b: b + o.b, ldb: ldb, beta: beta, c: c + o.c, ldc: ldc)
        }
    }

    // MARK: Convolution

    /// Whether the lowering is the identity (1x1, stride 1, no padding).
    private func isPointwise(_ g: Conv2dGeometry) -> Bool { g.kernel == 1 && g.stride == 1 && g.padding == 0 }

    /// The bounds the lowering's unchecked inner loops rely on, checked once per
    /// call: positive sizes and stride, non-negative padding, and a padded width
    /// far from overflow, so `j * stride - padding + kj` (j < outWidth,
    /// kj < kernel) cannot wrap.
    @inline(__always)
    static func checkLowering(_ g: Conv2dGeometry) {
        require(g.kernel > 0 && g.stride > 0 && g.padding >= 0 && g.width > 0 && g.height > 0
                && g.width <= Int(Int32.max) && g.padding <= Int(Int32.max) && g.kernel <= Int(Int32.max)
                && g.outWidth > 0 && g.outHeight > 0,
                "convolution lowering: invalid geometry \(g)")
    }

    /// col[(c*k+ki)*k+kj, oh*outW+ow] = x[c, oh*s-p+ki, ow*s-p+kj] (0 outside). x: one image `[C, H, W]`.
    static func im2col(_ g: Conv2dGeometry, _ x: UnsafePointer<Float>, _ col: UnsafeMutablePointer<Float>) {
        checkLowering(g)
        let oh = g.outHeight, ow = g.outWidth, k = g.kernel, s = g.stride, p = g.padding, H = g.height, W = g.width
        for c in 0..<g.inChannels {
            let xc = x + c * H * W
            for ki in 0..<k {
                for kj in 0..<k {
                    let row = col + ((c * k + ki) * k + kj) * oh * ow
                    for i in 0..<oh {
                        let y = i * s - p + ki
                        let dst = row + i * ow
                        if y < 0 || y >= H {
                            for j in 0..<ow { dst[j] = 0 }
                            continue
                        }
                        let src = xc + y * W
                        if s == 1 {
                            // x index = j - p + kj: copy the in-range span in one go.
                            let jlo = max(0, p - kj), jhi = min(ow, W + p - kj)
                            if jlo > 0 { for j in 0..<jlo { dst[j] = 0 } }
                            if jhi > jlo { (dst + jlo).update(from: src + (jlo - p + kj), count: jhi - jlo) }
                            if jhi < ow { for j in max(jhi, 0)..<ow { dst[j] = 0 } }
                        } else {
                            // Wrapping arithmetic: no overflow check per element (it kept this
                            // loop from vectorising: 1.6x slower under -O); `checkLowering`
                            // bounded every index once, at the boundary.
                            for j in 0..<ow {
                                let xx = j &* s &- p &+ kj
                                dst[j] = (xx >= 0 && xx < W) ? src[xx] : 0
                            }
                        }
                    }
                }
            }
        }
    }

    /// Adjoint of `im2col`: dx[c, y, x] += col[...] (dx must be zeroed first).
    static func col2im(_ g: Conv2dGeometry, _ col: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>) {
        checkLowering(g)
        let oh = g.outHeight, ow = g.outWidth, k = g.kernel, s = g.stride, p = g.padding, H = g.height, W = g.width
        for c in 0..<g.inChannels {
            let xc = dx + c * H * W
            for ki in 0..<k {
                for kj in 0..<k {
                    let row = col + ((c * k + ki) * k + kj) * oh * ow
                    for i in 0..<oh {
                        let y = i * s - p + ki
                        if y < 0 || y >= H { continue }
                        let src = row + i * ow
                        let dst = xc + y * W
                        if s == 1 {
                            let jlo = max(0, p - kj), jhi = min(ow, W + p - kj)
                            if jhi > jlo {
                                let d = dst + (jlo - p + kj), sr = src + jlo
                                for j in 0..<(jhi - jlo) { d[j] += sr[j] }
                            }
                        } else {
                            // Wrapping arithmetic, as in `im2col`.
                            for j in 0..<ow {
                                let xx = j &* s &- p &+ kj
                                if xx >= 0 && xx < W { dst[xx] += src[j] }
                            }
                        }
                    }
                }
            }
        }
    }

    public func conv2dForward(_ g: Conv2dGeometry, x: UnsafePointer<Float>, w: UnsafePointer<Float>,
                              bias: UnsafePointer<Float>?, y: UnsafeMutablePointer<Float>) {
        if conv3x3 != .im2col && ShiftedConv3x3.applies(g) { return shiftedForward(g, x: x, w: w, bias: bias, y: y) }
        let P = g.outHeight * g.outWidth, K = g.patchSize, inSize = g.inChannels * g.height * g.width
        let outSize = g.outChannels * P
        let pointwise = isPointwise(g)
        Parallel.forChunks(g.batch) { _, images in
            let col = pointwise ? nil : UnsafeMutablePointer<Float>.allocate(capacity: K * P)
            defer { col?.deallocate() }
            for b in images {
                let yb = y + b * outSize
                var src = x + b * inSize
                if let col { OpenBLASBackend.im2col(g, src, col); src = UnsafePointer(col) }
                var beta: Float = 0
                if let bias {
                    for o in 0..<g.outChannels { let v = bias[o]; let row = yb + o * P; for j in 0..<P { row[j] = v } }
                    beta = 1
                }
                // y_b[outC, P] = W[outC, K] * col[K, P]
                self.gemm(transA: false, transB: false, m: g.outChannels, n: P, k: K, alpha: 1,
                          a: w, lda: K, b: src, ldb: P, beta: beta, c: yb, ldc: P)
            }
        }
    }

    public func conv2dBackward(_ g: Conv2dGeometry, x: UnsafePointer<Float>, w: UnsafePointer<Float>,
                               dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>?,
                               dw: UnsafeMutablePointer<Float>, dbias: UnsafeMutablePointer<Float>?) {
        if conv3x3 != .im2col && ShiftedConv3x3.applies(g) { return shiftedBackward(g, x: x, w: w, dy: dy, dx: dx, dw: dw, dbias: dbias) }
        let P = g.outHeight * g.outWidth, K = g.patchSize, inSize = g.inChannels * g.height * g.width
        let outSize = g.outChannels * P, wSize = g.outChannels * K
        let pointwise = isPointwise(g)
        let chunks = Parallel.chunkCount(g.batch)
        // Per-chunk weight-gradient partials, summed in chunk order (deterministic).
        let partials = UnsafeMutablePointer<Float>.allocate(capacity: chunks * (wSize + g.outChannels))
        partials.initialize(repeating: 0, count: chunks * (wSize + g.outChannels))
        defer { partials.deallocate() }
        Parallel.forChunks(g.batch) { chunk, images in
            let col = pointwise ? nil : UnsafeMutablePointer<Float>.allocate(capacity: K * P)
            let dcol = (pointwise || dx == nil) ? nil : UnsafeMutablePointer<Float>.allocate(capacity: K * P)
            defer { col?.deallocate(); dcol?.deallocate() }
            let pdw = partials + chunk * (wSize + g.outChannels), pdb = pdw + wSize
            for b in images {
                let dyb = dy + b * outSize
                var src = x + b * inSize
                if let col { OpenBLASBackend.im2col(g, src, col); src = UnsafePointer(col) }
                // dW[outC, K] += dy_b[outC, P] * col[K, P]^T
                self.gemm(transA: false, transB: true, m: g.outChannels, n: K, k: P, alpha: 1,
                          a: dyb, lda: P, b: src, ldb: P, beta: 1, c: pdw, ldc: K)
                for o in 0..<g.outChannels {
                    var s: Float = 0
                    let row = dyb + o * P
                    for j in 0..<P { s += row[j] }
                    pdb[o] += s
                }
                guard let dx else { continue }
                let dxb = dx + b * inSize
                if pointwise {
                    // dx_b[inC, P] = W[outC, inC]^T * dy_b[outC, P]
                    self.gemm(transA: true, transB: false, m: K, n: P, k: g.outChannels, alpha: 1,
                              a: w, lda: K, b: dyb, ldb: P, beta: 0, c: dxb, ldc: P)
                } else {
                    // dcol[K, P] = W^T * dy_b, then scatter-add into dx_b.
                    self.gemm(transA: true, transB: false, m: K, n: P, k: g.outChannels, alpha: 1,
                              a: w, lda: K, b: dyb, ldb: P, beta: 0, c: dcol!, ldc: P)
                    dxb.update(repeating: 0, count: inSize)
                    OpenBLASBackend.col2im(g, dcol!, dxb)
                }
            }
        }
        for c in 0..<chunks {
            let pdw = partials + c * (wSize + g.outChannels)
            for i in 0..<wSize { dw[i] += pdw[i] }
            if let dbias { for o in 0..<g.outChannels { dbias[o] += pdw[wSize + o] } }
        }
    }

    // MARK: 3x3 stride 1 as shifted GEMMs

    private func shiftedGEMM() -> ShiftedConv3x3.GEMM {
        { tA, tB, m, n, k, a, lda, b, ldb, beta, c, ldc in
            self.gemm(transA: tA, transB: tB, m: m, n: n, k: k, alpha: 1, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
        }
    }

    private func shiftedForward(_ g: Conv2dGeometry, x: UnsafePointer<Float>, w: UnsafePointer<Float>,
                                bias: UnsafePointer<Float>?, y: UnsafeMutablePointer<Float>) {
        let C = g.inChannels, O = g.outChannels, inSize = C * g.height * g.width, outSize = O * g.height * g.width
        let taps = UnsafeMutablePointer<Float>.allocate(capacity: 9 * O * C)
        defer { taps.deallocate() }
        let kernel = directKernel
        if let kernel, kernel.handles(rowsOut: O) {
            ShiftedConv3x3.tapsByInput(w, out: O, in: C, into: taps)
        } else {
            ShiftedConv3x3.taps(w, out: O, in: C, into: taps)
        }
        let gemm = shiftedGEMM(), scratchSize = ShiftedConv3x3.scratchSize(g, kernel)
        Parallel.forChunks(g.batch) { _, images in
            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: scratchSize)
            defer { scratch.deallocate() }
            for b in images {
                ShiftedConv3x3.forward(g, x: x + b * inSize, taps: taps, bias: bias, y: y + b * outSize, scratch: scratch,
                                       kernel: kernel, gemm: gemm)
            }
        }
    }

    private func shiftedBackward(_ g: Conv2dGeometry, x: UnsafePointer<Float>, w: UnsafePointer<Float>,
                                 dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>?,
                                 dw: UnsafeMutablePointer<Float>, dbias: UnsafeMutablePointer<Float>?) {
        let C = g.inChannels, O = g.outChannels, inSize = C * g.height * g.width, outSize = O * g.height * g.width
        let tapSize = 9 * O * C
        let taps = UnsafeMutablePointer<Float>.allocate(capacity: tapSize)
        defer { taps.deallocate() }
        ShiftedConv3x3.taps(w, out: O, in: C, into: taps)
        let chunks = Parallel.chunkCount(g.batch)
        // Per-chunk tap-gradient and bias partials, summed in chunk order (deterministic).
        let partials = UnsafeMutablePointer<Float>.allocate(capacity: chunks * (tapSize + O))
        partials.initialize(repeating: 0, count: chunks * (tapSize + O))
        defer { partials.deallocate() }
        let kernel = directKernel
        let gemm = shiftedGEMM(), scratchSize = ShiftedConv3x3.scratchSize(g, kernel)
        Parallel.forChunks(g.batch) { chunk, images in
            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: scratchSize)
            defer { scratch.deallocate() }
            let pt = partials + chunk * (tapSize + O)
            for b in images {
                ShiftedConv3x3.backward(g, x: x + b * inSize, taps: taps, dy: dy + b * outSize, dx: dx.map { $0 + b * inSize },
                                        dtaps: pt, dbias: pt + tapSize, scratch: scratch, kernel: kernel, gemm: gemm)
            }
        }
        // dW[o, c, k] += sum over chunks of dtaps[k, o, c]
        for chunk in 0..<chunks {
            let pt = partials + chunk * (tapSize + O)
            for o in 0..<O { for c in 0..<C { for k in 0..<9 { dw[(o * C + c) * 9 + k] += pt[(k * O + o) * C + c] } } }
            if let dbias { for o in 0..<O { dbias[o] += pt[tapSize + o] } }
        }
    }
}
