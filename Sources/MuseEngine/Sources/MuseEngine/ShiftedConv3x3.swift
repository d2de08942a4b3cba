import Foundation

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
enum ShiftedConv3x3 {
    typealias GEMM = (_ transA: Bool, _ transB: Bool, _ m: Int, _ n: Int, _ k: Int,
                      _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ ldb: Int,
                      _ beta: Float, _ c: UnsafeMutablePointer<Float>, _ ldc: Int) -> Void

    /// Whether a geometry is one this path computes.
    static func applies(_ g: Conv2dGeometry) -> Bool { g.kernel == 3 && g.stride == 1 && g.padding == 1 }

    /// Elements of one padded plane.
    static func planeSize(_ g: Conv2dGeometry) -> Int { (g.height + 2) * (g.width + 2) + 2 }

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

    /// The kernel's taps as nine row-major `[O, C]` matrices: `taps[t][o, c] = w[o, c, t]`.
    static func taps(_ w: UnsafePointer<Float>, out O: Int, in C: Int, into t: UnsafeMutablePointer<Float>) {
        for o in 0..<O { for c in 0..<C { for k in 0..<9 { t[(k * O + o) * C + c] = w[(o * C + c) * 9 + k] } } }
    }

    /// Scratch floats one worker needs for `forward` / `backward` of one image.
    static func scratchSize(_ g: Conv2dGeometry) -> Int {
        let plane = planeSize(g), N = g.height * (g.width + 2)
        return max(g.inChannels, g.outChannels) * plane + max(g.inChannels, g.outChannels) * N
    }

    /// y `[O, H, W]` of one image x `[C, H, W]`; `taps` from `taps(_:)`; bias may be nil.
    static func forward(_ g: Conv2dGeometry, x: UnsafePointer<Float>, taps: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                        y: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>, gemm: GEMM) {
        let C = g.inChannels, O = g.outChannels, H = g.height, W = g.width, Wp = W + 2, N = H * Wp
        let plane = planeSize(g)
        let xpad = scratch, out = scratch + max(C, O) * plane
        pad(x, channels: C, height: H, width: W, into: xpad, plane: plane)
        for k in 0..<9 {
            let shift = (k / 3) * Wp + k % 3
            gemm(false, false, O, N, C, taps + k * O * C, C, UnsafePointer(xpad + shift), plane, k == 0 ? 0 : 1, out, N)
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
                         scratch: UnsafeMutablePointer<Float>, gemm: GEMM) {
        let C = g.inChannels, O = g.outChannels, H = g.height, W = g.width, Wp = W + 2, N = H * Wp
        let plane = planeSize(g)
        let pads = scratch, wide = scratch + max(C, O) * plane
        // dy on the wider rows, zeros in the two extra columns.
        for o in 0..<O {
            let s = dy + o * H * W, d = wide + o * N
            var sum: Float = 0
            for i in 0..<H {
                for j in 0..<W { let v = s[i * W + j]; d[i * Wp + j] = v; sum += v }
                d[i * Wp + W] = 0; d[i * Wp + W + 1] = 0
            }
            dbias[o] += sum
        }
        // Weights: dW_tap[O, C] += dy'[O, N] * xpad[C, shift ..< shift + N]^T
        pad(x, channels: C, height: H, width: W, into: pads, plane: plane)
        for k in 0..<9 {
            let shift = (k / 3) * Wp + k % 3
            gemm(false, true, O, C, N, UnsafePointer(wide), N, UnsafePointer(pads + shift), plane, 1, dtaps + k * O * C, C)
        }
        guard let dx else { return }
        // Data: dx'[C, N] = sum over taps of W_tap^T[C, O] * dypad[O, (2 - ki) Wp + (2 - kj) + 0 ..< N]
        pad(dy, channels: O, height: H, width: W, into: pads, plane: plane)
        for k in 0..<9 {
            let shift = (2 - k / 3) * Wp + (2 - k % 3)
            gemm(true, false, C, N, O, taps + k * O * C, C, UnsafePointer(pads + shift), plane, k == 0 ? 0 : 1, wide, N)
        }
        for c in 0..<C {
            let src = wide + c * N, dst = dx + c * H * W
            for i in 0..<H { (dst + i * W).update(from: src + i * Wp, count: W) }
        }
    }
}
