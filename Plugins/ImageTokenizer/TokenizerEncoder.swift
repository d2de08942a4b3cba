import MuseCore
import MuseEngine

/// Fully convolutional encoder: image `[B, 3, H, W]` in [-1, 1] -> latent
/// `[B, latentDim, H/f, W/f]`. Layout: `conv_in` (3x3), then per level
/// `blocks.<level>.<i>` residual blocks and (except the last level) a 3x3
/// stride-2 convolution `down.<level>`; then `norm_out`, SiLU, `conv_out` (3x3).
final class TokenizerEncoder: Module {
    let convIn: Conv2d
    let blocks: [[ConvResidualBlock]]
    let down: [Conv2d]
    let normOut: GroupNorm
    let convOut: Conv2d
    private let actOut = SiLU()

    init(_ c: TokenizerConfig, backend: ComputeBackend, rng: inout SeededRNG) {
        let ch = c.levelChannels
        convIn = Conv2d(3, ch[0], kernel: 3, backend: backend, rng: &rng)
        var blocks: [[ConvResidualBlock]] = [], down: [Conv2d] = []
        var prev = ch[0]
        for (level, cl) in ch.enumerated() {
            var row: [ConvResidualBlock] = []
            for _ in 0..<c.encoderBlocks { row.append(ConvResidualBlock(prev, cl, groups: c.groups, backend: backend, rng: &rng)); prev = cl }
            if c.encoderBlocks == 0 && prev != cl { row.append(ConvResidualBlock(prev, cl, groups: c.groups, backend: backend, rng: &rng)); prev = cl }
            blocks.append(row)
            if level < ch.count - 1 { down.append(Conv2d(prev, prev, kernel: 3, stride: 2, padding: 1, backend: backend, rng: &rng)) }
        }
        self.blocks = blocks; self.down = down
        normOut = GroupNorm(groups: min(c.groups, prev), channels: prev)
        convOut = Conv2d(prev, c.latentDim, kernel: 3, backend: backend, rng: &rng)
    }

    var namedParameters: [(name: String, param: Parameter)] {
        var p = nest("conv_in", convIn)
        for (l, row) in blocks.enumerated() { p += nest("blocks.\(l)", row) }
        p += nest("down", down)
        return p + nest("norm_out", normOut) + nest("conv_out", convOut)
    }

    /// Convolution FLOPs of one forward pass over `[B, 3, H, W]`.
    func forwardFlops(_ shape: [Int]) -> Double {
        var s = shape, total = convIn.geometry(s).forwardFlops
        s[1] = convIn.outChannels
        for (l, row) in blocks.enumerated() {
            for b in row { total += b.forwardFlops(s); s[1] = b.conv2.outChannels }
            if l < down.count { let g = down[l].geometry(s); total += g.forwardFlops; s = [s[0], g.outChannels, g.outHeight, g.outWidth] }
        }
        return total + convOut.geometry(s).forwardFlops
    }

    /// x: `[B, 3, H, W]` -> z `[B, latentDim, H/f, W/f]`.
    func forward(_ x: Tensor) -> Tensor {
        var h = convIn.forward(x)
        for (l, row) in blocks.enumerated() {
            for b in row { h = b.forward(h) }
            if l < down.count { h = down[l].forward(h) }
        }
        return convOut.forward(actOut.forward(normOut.forward(h)))
    }

    /// dz -> dx; accumulates parameter gradients.
    func backward(_ dz: Tensor) -> Tensor {
        var d = normOut.backward(actOut.backward(convOut.backward(dz)))
        for l in stride(from: blocks.count - 1, through: 0, by: -1) {
            if l < down.count { d = down[l].backward(d) }
            for b in blocks[l].reversed() { d = b.backward(d) }
        }
        return convIn.backward(d)
    }
}
