import Foundation
import CMuseKernels

/// Group normalization over NCHW images: channels split into `groups`; each
/// (image, group) normalized over its channels and pixels, then a per-channel
/// affine. Parameters: `weight [C]`, `bias [C]`. Matches `torch.nn.GroupNorm`.
public final class GroupNorm: Module {
    public let groups: Int, channels: Int
    public let eps: Float
    public let weight: Parameter, bias: Parameter
    private var input = Tensor(zeros: [0])
    private var mean: [Float] = [], rstd: [Float] = []   // [B * groups]

    public init(groups: Int, channels: Int, eps: Float = 1e-6) {
        precondition(channels % groups == 0, "GroupNorm: \(channels) channels not divisible by \(groups) groups")
        self.groups = groups; self.channels = channels; self.eps = eps
        weight = Parameter(Tensor(zeros: [channels], value: 1), decays: false)
        bias = Parameter(Tensor(zeros: [channels]), decays: false)
    }

    public var namedParameters: [(name: String, param: Parameter)] { [("weight", weight), ("bias", bias)] }

    /// x: `[B, C, H, W]` -> same shape. Caches x, mean and 1/std per (image, group).
    public func forward(_ x: Tensor) -> Tensor {
        require(x.rank == 4 && x.shape[1] == channels, "GroupNorm.forward: input shape \(x.shape), expected [B, \(channels), H, W]")
        input = x
        let B = x.shape[0], HW = x.shape[2] * x.shape[3], cg = channels / groups, n = cg * HW
        mean = [Float](repeating: 0, count: B * groups)
        rstd = mean
        var y = Tensor(zeros: x.shape)
        x.data.withUnsafeBufferPointer { xp in y.data.withUnsafeMutableBufferPointer { yp in
        mean.withUnsafeMutableBufferPointer { mp in rstd.withUnsafeMutableBufferPointer { rp in
        weight.value.data.withUnsafeBufferPointer { gp in bias.value.data.withUnsafeBufferPointer { bp in
            let X = xp.baseAddress!, Y = yp.baseAddress!, M = mp.baseAddress!, R = rp.baseAddress!
            let G = gp.baseAddress!, Bi = bp.baseAddress!
            Parallel.forEach(B * groups) { bg in
                let base = bg * n
                // Vectorized reductions (16 lanes, fixed order: deterministic).
                let m = muse_sum(X + base, n) / Float(n)
                let v = muse_sum_squared_deviation(X + base, n, m)
                let rs = 1 / (v / Float(n) + eps).squareRoot()
                M[bg] = m; R[bg] = rs
                let c0 = (bg % groups) * cg
                for c in 0..<cg {
                    let a = rs * G[c0 + c], b = Bi[c0 + c] - m * a
                    let o = base + c * HW
                    for i in 0..<HW { Y[o + i] = X[o + i] * a + b }
                }
            }
        }}}}}}
        return y
    }

    /// dy -> dx; accumulates dweight, dbias. Per group: dx = rstd (dxhat - mean(dxhat) - xhat mean(dxhat xhat)).
    public func backward(_ dy: Tensor) -> Tensor {
        require(dy.shape == input.shape, "GroupNorm.backward: gradient shape \(dy.shape), expected \(input.shape)")
        let B = input.shape[0], HW = input.shape[2] * input.shape[3], cg = channels / groups, n = cg * HW
        var dx = Tensor(zeros: input.shape)
        // Per (image, channel) partial sums of dy*xhat and dy, reduced over images afterwards.
        var dgb = [Float](repeating: 0, count: B * channels * 2)
        input.data.withUnsafeBufferPointer { xp in dy.data.withUnsafeBufferPointer { dyp in
        dx.data.withUnsafeMutableBufferPointer { dxp in dgb.withUnsafeMutableBufferPointer { pp in
        weight.value.data.withUnsafeBufferPointer { gp in
            let X = xp.baseAddress!, DY = dyp.baseAddress!, DX = dxp.baseAddress!, PP = pp.baseAddress!, G = gp.baseAddress!
            let M = mean, R = rstd, groups = self.groups, channels = self.channels
            Parallel.forEach(B * groups) { bg in
                let base = bg * n, m = M[bg], rs = R[bg], b = bg / groups, c0 = (bg % groups) * cg
                var s1: Float = 0, s2: Float = 0
                for c in 0..<cg {
                    let o = base + c * HW, gam = G[c0 + c]
                    var sxh: Float = 0, sdy: Float = 0
                    muse_norm_backward_sums(X + o, DY + o, HW, m, rs, &sdy, &sxh)
                    PP[(b * channels + c0 + c) * 2] = sxh
                    PP[(b * channels + c0 + c) * 2 + 1] = sdy
                    s1 += sdy * gam; s2 += sxh * gam
                }
                let a = s1 / Float(n), bb = s2 / Float(n)
                for c in 0..<cg {
                    let o = base + c * HW, gam = G[c0 + c]
                    for i in 0..<HW {
                        let xh = (X[o + i] - m) * rs
                        DX[o + i] = rs * (DY[o + i] * gam - a - xh * bb)
                    }
                }
            }
        }}}}}
        for b in 0..<B { for c in 0..<channels {
            weight.grad.data[c] += dgb[(b * channels + c) * 2]
            bias.grad.data[c] += dgb[(b * channels + c) * 2 + 1]
        } }
        return dx
    }
}
