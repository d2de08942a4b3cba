import Foundation
import CMuseKernels

/// 3x3, stride 1, padding 1 convolutions as nine shifted GEMMs, without im2col.
///
/// Each image's input is copied once into a zero-padded plane per channel,
/// `[C, (H + 2) * (W + 2) + 2]` (the 2 extra values keep the last shifted
/// read inside the plane). On that layout, tap (ki, kj) of the kernel reads the
/// padded plane shifted by `ki * (W + 2) + kj`, so the whole convolution is
/// `out'[O, H * (W + 2)] = sum over taps of W_tap[O, C] * xpad[C, shift + 0 ..< H * (W + 2)]`,
/// computed on rows that are 2 values wider than the image (those two columns
/// are discarded). The lowered matrix of im2col (9x the input) is never built;
/// the GEMMs read the padded input in place (leading dimension = plane size).
///
/// - Backward data is the same with the flipped, transposed kernel over the
///   padded output gradient.
/// - Backward weights: `dW_tap[O, C] += dy'[O, N] * xpad[C, shift + 0 ..< N]^T`, where
///   dy' is dy on the wider rows with zeros in the two extra columns.
///
/// With a `DirectKernel`, the forward and backward-data sums over the nine taps run
/// as one register-blocked kernel (CMuseKernels' `muse_conv3x3_taps`) instead of
/// nine GEMMs: its accumulators stay in registers over all taps and channels,
/// which pays at small channel counts (K = 32 per GEMM). It computes whole column
/// blocks, so the wide rows are padded to `columns(g, kernel)` and the planes get
/// that much more zero tail. Backward weights has its own direct kernel
/// (`muse_conv3x3_grad`: blocks of output x input channel pairs, each a vector of
/// partial sums over the columns): its nine GEMMs had M = O, N = C and re-packed dy'
/// for every tap.
enum ShiftedConv3x3 {
    /// A variant of the direct kernel (2 AVX-512, 1 AVX2) and its block sizes.
    struct DirectKernel: Sendable {
        let variant: Int32, rows: Int, columns: Int
        /// `requested` 0: the default (AVX-512 where the CPU has it); nil when there is
        /// none here (or not the one requested).
        init?(requested: Int32) {
            let v = muse_conv3x3_taps_variant(requested)
            guard v != 0, requested == 0 || v == requested else { return nil }
            variant = v
            rows = Int(muse_conv3x3_taps_block_rows(v)); columns = Int(muse_conv3x3_taps_block_columns(v))
        }
        /// Whether it computes `rowsOut` output rows (channels).
        func handles(rowsOut: Int) -> Bool { rowsOut % rows == 0 }
        /// Whether its weight-gradient kernel takes `out` x `in` channels over `columns`
        /// columns. Each block of channel pairs ends in one horizontal sum per pair, so
        /// below about a thousand columns (images under 32 x 32) those sums cost more than
        /// the GEMMs' packing; and from 64 channels on the GEMMs (M = out, N = in) run
        /// as well. muse-bench conv on a 2-core Xeon (AVX-512), fwd+bwd with this kernel
        /// for every shape: 16x32x64x64 -> 32 and 64x32x32x32 -> 32 1.3-1.7x faster,
        /// 8x64x64x64 -> 64 0-3% slower, 8x128x32x32 -> 128 and 8x128x16x16 -> 128
        /// slower (up to 1.2x).
        func handlesGradient(out: Int, in: Int, columns: Int) -> Bool {
            columns >= 1024 && max(out, `in`) <= 32
                && out % Int(muse_conv3x3_grad_block_rows_a(variant)) == 0 && `in` % Int(muse_conv3x3_grad_block_rows_b(variant)) == 0
        }
    }

    typealias GEMM = (_ transA: Bool, _ transB: Bool, _ m: Int, _ n: Int, _ k: Int,
                      _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ ldb: Int,
                      _ beta: Float, _ c: UnsafeMutablePointer<Float>, _ ldc: Int) -> Void

    /// Whether a geometry is one this path computes.
    static func applies(_ g: Conv2dGeometry) -> Bool { g.kernel == 3 && g.stride == 1 && g.padding == 1 }

    /// Columns of the wide rows a pass computes: `H (W + 2)`, rounded up to the
    /// direct kernel's block when there is one.
    static func columns(_ g: Conv2dGeometry, _ kernel: DirectKernel?) -> Int {
        let n = g.height * (g.width + 2)
        guard let kernel else { return n }
        return (n + kernel.columns - 1) / kernel.columns * kernel.columns
    }

    /// Elements of one padded plane: the padded image, 2 more so the last shifted
    /// read of a row stays inside, and the zero tail that whole column blocks read.
    static func planeSize(_ g: Conv2dGeometry, _ kernel: DirectKernel?) -> Int {
        columns(g, kernel) + 2 * (g.width + 2) + 2
    }

    /// Offsets of the nine taps in a padded plane: tap (ki, kj) at `ki (W + 2) + kj`,
    /// or for backward data the flipped kernel, `(2 - ki) (W + 2) + (2 - kj)`.
    static func shifts(_ g: Conv2dGeometry, flipped: Bool) -> [Int] {
        (0..<9).map { k in flipped ? (2 - k / 3) * (g.width + 2) + (2 - k % 3) : (k / 3) * (g.width + 2) + k % 3 }
    }

    /// Copies `src [C, H, W]` into zeroed padded planes `dst [C, plane]` at offset (1, 1).
    static func pad(_ src: UnsafePointer<Float>, channels: Int, height H: Int, width W: Int,
                    into dst: UnsafeMutablePointer<Float>, plane: Int) {
        let Wp = W + 2
        dst.update(repeating: 0, count: channels * plane)
        for c in 0..<channels {
            let s = src + c * H * W, d = dst + c * plane + Wp + 1
            for i in 0..<H { (d + i * Wp).update(from: s + i * W, count: W) }
        }
    }

    /// The kernel's taps as nine row-major `[O, C]` matrices: `taps[t][o, c] = w[o, c, t]`
    /// (the GEMMs' A; for the direct kernel's backward data, the flipped kernel).
    static func taps(_ w: UnsafePointer<Float>, out O: Int, in C: Int, into t: UnsafeMutablePointer<Float>) {
        for o in 0..<O { for c in 0..<C { for k in 0..<9 { t[(k * O + o) * C + c] = w[(o * C + c) * 9 + k] } } }
    }

    /// The taps as nine row-major `[C, O]` matrices, `t[k][c, o] = w[o, c, k]`: the direct
    /// kernel's forward weights.
    static func tapsByInput(_ w: UnsafePointer<Float>, out O: Int, in C: Int, into t: UnsafeMutablePointer<Float>) {
        for o in 0..<O { for c in 0..<C { for k in 0..<9 { t[(k * C + c) * O + o] = w[(o * C + c) * 9 + k] } } }
    }

    /// Scratch floats one worker needs for `forward` / `backward` of one image.
    static func scratchSize(_ g: Conv2dGeometry, _ kernel: DirectKernel?) -> Int {
        max(g.inChannels, g.outChannels) * (planeSize(g, kernel) + columns(g, kernel))
    }

    /// y `[O, H, W]` of one image x `[C, H, W]`; bias may be nil. `taps` from `taps(_:)`, or with
    /// a direct kernel that handles O rows, from `tapsByInput(_:)`.
    static func forward(_ g: Conv2dGeometry, x: UnsafePointer<Float>, taps: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                        y: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>, kernel: DirectKernel?, gemm: GEMM) {
        let C = g.inChannels, O = g.outChannels, H = g.height, W = g.width, Wp = W + 2
        let plane = planeSize(g, kernel), N = columns(g, kernel)
        let xpad = scratch, out = scratch + max(C, O) * plane
        pad(x, channels: C, height: H, width: W, into: xpad, plane: plane)
        if let kernel, kernel.handles(rowsOut: O) {
            let done = shifts(g, flipped: false).withUnsafeBufferPointer { sh in
                muse_conv3x3_taps(kernel.variant, xpad, plane, Int32(C), taps, Int32(O), sh.baseAddress!, out, N, N)
            }
            require(done == 1, "ShiftedConv3x3: the direct kernel refused \(O) x \(N)")
        } else {
            for (k, shift) in shifts(g, flipped: false).enumerated() {
                gemm(false, false, O, N, C, taps + k * O * C, C, UnsafePointer(xpad + shift), plane, k == 0 ? 0 : 1, out, N)
            }
        }
        for o in 0..<O {
            let b = bias?[o] ?? 0, src = out + o * N, dst = y + o * H * W
            for i in 0..<H { for j in 0..<W { dst[i * W + j] = src[i * Wp + j] + b } }
        }
    }

    /// dx `[C, H, W]` (overwritten, when non-nil) and dW taps `[9, O, C]`, dbias `[O]`
    /// (accumulated) of one image.
    static func backward(_ g: Conv2dGeometry, x: UnsafePointer<Float>, taps: UnsafePointer<Float>, dy: UnsafePointer<Float>,
                         dx: UnsafeMutablePointer<Float>?, dtaps: UnsafeMutablePointer<Float>, dbias: UnsafeMutablePointer<Float>,
                         scratch: UnsafeMutablePointer<Float>, kernel: DirectKernel?, gemm: GEMM) {
        let C = g.inChannels, O = g.outChannels, H = g.height, W = g.width, Wp = W + 2, N = H * Wp
        let plane = planeSize(g, kernel), ld = columns(g, kernel)
        let pads = scratch, wide = scratch + max(C, O) * plane
        // dy on the wider rows (row stride ld), zeros in the two extra columns and the tail.
        for o in 0..<O {
            let s = dy + o * H * W, d = wide + o * ld
            var sum: Float = 0
            for i in 0..<H {
                for j in 0..<W { let v = s[i * W + j]; d[i * Wp + j] = v; sum += v }
                d[i * Wp + W] = 0; d[i * Wp + W + 1] = 0
            }
            (d + N).update(repeating: 0, count: ld - N)
            dbias[o] += sum
        }
        // Weights: dW_tap[O, C] += dy'[O, N] * xpad[C, shift ..< shift + N]^T
        pad(x, channels: C, height: H, width: W, into: pads, plane: plane)
        if let kernel, kernel.handlesGradient(out: O, in: C, columns: ld) {
            let done = shifts(g, flipped: false).withUnsafeBufferPointer { sh in
                muse_conv3x3_grad(kernel.variant, wide, ld, Int32(O), pads, plane, Int32(C), sh.baseAddress!, dtaps, ld)
            }
            require(done == 1, "ShiftedConv3x3: the direct gradient kernel refused \(O) x \(C) x \(ld)")
        } else {
            for (k, shift) in shifts(g, flipped: false).enumerated() {
                gemm(false, true, O, C, N, UnsafePointer(wide), ld, UnsafePointer(pads + shift), plane, 1, dtaps + k * O * C, C)
            }
        }
        guard let dx else { return }
        // Data: dx'[C, N] = sum over taps of W_tap^T[C, O] * dypad[O, (2 - ki) Wp + (2 - kj) + 0 ..< N]
        pad(dy, channels: O, height: H, width: W, into: pads, plane: plane)
        if let kernel, kernel.handles(rowsOut: C) {
            // The direct kernel's weights t[k][o, c] are the GEMMs' taps as they are.
            let done = shifts(g, flipped: true).withUnsafeBufferPointer { sh in
                muse_conv3x3_taps(kernel.variant, pads, plane, Int32(O), taps, Int32(C), sh.baseAddress!, wide, ld, ld)
            }
            require(done == 1, "ShiftedConv3x3: the direct kernel refused \(C) x \(ld)")
        } else {
            for (k, shift) in shifts(g, flipped: true).enumerated() {
                gemm(true, false, C, N, O, taps + k * O * C, C, UnsafePointer(pads + shift), plane, k == 0 ? 0 : 1, wide, ld)
            }
        }
        for c in 0..<C {
            let src = wide + c * ld, dst = dx + c * H * W
            for i in 0..<H { (dst + i * W).update(from: src + i * Wp, count: W) }
        }
    }
}
