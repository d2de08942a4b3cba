import MuseCore
import MuseEngine

/// The tokenizer's residual block (VQGAN / MaskGIT style, no attention):
/// `h = conv2(silu(gn2(conv1(silu(gn1(x)))))); y = skip(x) + h`, where `skip` is
/// a 1x1 convolution when the channel count changes and the identity otherwise.
/// Both convolutions are 3x3, stride 1. Names: `norm1`, `conv1`, `norm2`, `conv2`, `skip`.
final class ConvResidualBlock: Module {
    let norm1: GroupNorm, conv1: Conv2d, norm2: GroupNorm, conv2: Conv2d
    let skip: Conv2d?
    private let act1 = SiLU(), act2 = SiLU()

    init(_ inC: Int, _ outC: Int, groups: Int, backend: ComputeBackend, rng: inout SeededRNG) {
        norm1 = GroupNorm(groups: min(groups, inC), channels: inC)
        conv1 = Conv2d(inC, outC, kernel: 3, backend: backend, rng: &rng)
        norm2 = GroupNorm(groups: min(groups, outC), channels: outC)
        conv2 = Conv2d(outC, outC, kernel: 3, backend: backend, rng: &rng)
        skip = inC == outC ? nil : Conv2d(inC, outC, kernel: 1, backend: backend, rng: &rng)
    }

    var namedParameters: [(name: String, param: Parameter)] {
        var p = nest("norm1", norm1) + nest("conv1", conv1) + nest("norm2", norm2) + nest("conv2", conv2)
        if let skip { p += nest("skip", skip) }
        return p
    }

    /// Convolution FLOPs of one forward pass over `[B, inC, H, W]`.
    func forwardFlops(_ shape: [Int]) -> Double {
        var s = shape; s[1] = conv1.outChannels
        return conv1.geometry(shape).forwardFlops + conv2.geometry(s).forwardFlops + (skip?.geometry(shape).forwardFlops ?? 0)
    }

    /// x: `[B, inC, H, W]` -> `[B, outC, H, W]`.
    func forward(_ x: Tensor) -> Tensor {
        let h = conv2.forward(act2.forward(norm2.forward(conv1.forward(act1.forward(norm1.forward(x))))))
        return (skip?.forward(x) ?? x) + h
    }

    /// dy `[B, outC, H, W]` -> dx `[B, inC, H, W]`; accumulates parameter gradients.
    func backward(_ dy: Tensor) -> Tensor {
        var dx = norm1.backward(act1.backward(conv1.backward(norm2.backward(act2.backward(conv2.backward(dy))))))
        dx.add(skip?.backward(dy) ?? dy)
        return dx
    }
}
