import MuseCore
import MuseEngine

/// Fully convolutional decoder: latent `[B, latentDim, h, w]` -> image
/// `[B, 3, h*f, w*f]` (in [-1, 1] when trained). Layout: `conv_in` (3x3) to the
/// last level's channels, then from the last level to the first: `blocks.<level>.<i>`
/// residual blocks and (except at level 0) nearest 2x upsampling followed by a
/// 3x3 convolution `up.<level>` to the next level's channels; then `norm_out`,
/// SiLU, `conv_out` (3x3) to RGB.
final class TokenizerDecoder: Module {
    let convIn: Conv2d
    let blocks: [[ConvResidualBlock]]   // indexed by level
    let up: [Conv2d]                     // up[l-1]: level l -> level l-1
    let normOut: GroupNorm
    let convOut: Conv2d
    private let upsample: [Upsample2x]
    private let actOut = SiLU()

    init(_ c: TokenizerConfig, backend: ComputeBackend, rng: inout SeededRNG) {
        let ch = c.levelChannels, L = ch.count
        convIn = Conv2d(c.latentDim, ch[L - 1], kernel: 3, backend: backend, rng: &rng)
        var blocks = [[ConvResidualBlock]](repeating: [], count: L)
        var up = [Conv2d?](repeating: nil, count: max(0, L - 1))
        for l in stride(from: L - 1, through: 0, by: -1) {
            blocks[l] = (0..<c.decoderBlocks).map { _ in ConvResidualBlock(ch[l], ch[l], groups: c.groups, backend: backend, rng: &rng) }
            if l > 0 { up[l - 1] = Conv2d(ch[l], ch[l - 1], kernel: 3, backend: backend, rng: &rng) }
        }
        self.blocks = blocks
        self.up = up.map { $0! }
        upsample = (0..<max(0, L - 1)).map { _ in Upsample2x() }
        normOut = GroupNorm(groups: min(c.groups, ch[0]), channels: ch[0])
        convOut = Conv2d(ch[0], 3, kernel: 3, backend: backend, rng: &rng)
    }

    var namedParameters: [(name: String, param: Parameter)] {
        var p = nest("conv_in", convIn)
        for (l, row) in blocks.enumerated() { p += nest("blocks.\(l)", row) }
        for (i, u) in up.enumerated() { p += nest("up.\(i + 1)", u) }
        return p + nest("norm_out", normOut) + nest("conv_out", convOut)
    }

    /// Convolution FLOPs of one forward pass over `[B, latentDim, h, w]`.
    func forwardFlops(_ shape: [Int]) -> Double {
        var s = shape, total = convIn.geometry(s).forwardFlops
        s[1] = convIn.outChannels
        for l in stride(from: blocks.count - 1, through: 0, by: -1) {
            for b in blocks[l] { total += b.forwardFlops(s) }
            if l > 0 { s = [s[0], s[1], s[2] * 2, s[3] * 2]; total += up[l - 1].geometry(s).forwardFlops; s[1] = up[l - 1].outChannels }
        }
        return total + convOut.geometry(s).forwardFlops
    }

    /// q: `[B, latentDim, h, w]` -> `[B, 3, h*f, w*f]`.
    func forward(_ q: Tensor) -> Tensor {
        var h = convIn.forward(q)
        for l in stride(from: blocks.count - 1, through: 0, by: -1) {
            for b in blocks[l] { h = b.forward(h) }
            if l > 0 { h = up[l - 1].forward(upsample[l - 1].forward(h)) }
        }
        return convOut.forward(actOut.forward(normOut.forward(h)))
    }

    /// dy `[B, 3, H, W]` -> dq; accumulates parameter gradients.
    func backward(_ dy: Tensor) -> Tensor {
        var d = normOut.backward(actOut.backward(convOut.backward(dy)))
        for l in 0..<blocks.count {
            if l > 0 { d = upsample[l - 1].backward(up[l - 1].backward(d)) }
            for b in blocks[l].reversed() { d = b.backward(d) }
        }
        return convIn.backward(d)
    }
}
