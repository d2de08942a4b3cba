/// Nearest-neighbour 2x upsampling of NCHW images: `y[b, c, 2i+di, 2j+dj] = x[b, c, i, j]`.
public final class Upsample2x {
    private var inputShape: [Int] = []
    public init() {}

    /// x: `[B, C, H, W]` -> `[B, C, 2H, 2W]`.
    public func forward(_ x: Tensor) -> Tensor {
        require(x.rank == 4, "Upsample2x.forward: input shape \(x.shape), expected [B, C, H, W]")
        inputShape = x.shape
        let planes = x.shape[0] * x.shape[1], H = x.shape[2], W = x.shape[3]
        var y = Tensor(zeros: [x.shape[0], x.shape[1], 2 * H, 2 * W])
        x.data.withUnsafeBufferPointer { xp in y.data.withUnsafeMutableBufferPointer { yp in
            let X = xp.baseAddress!, Y = yp.baseAddress!
            Parallel.forEach(planes, minPerChunk: max(1, Parallel.elementwiseGrain / (4 * H * W))) { p in
                let xs = X + p * H * W, ys = Y + p * 4 * H * W
                for i in 0..<H {
                    let r0 = ys + (2 * i) * 2 * W, r1 = r0 + 2 * W, src = xs + i * W
                    for j in 0..<W { let v = src[j]; r0[2 * j] = v; r0[2 * j + 1] = v }
                    r1.update(from: r0, count: 2 * W)
                }
            }
        }}
        return y
    }

    /// dy: `[B, C, 2H, 2W]` -> dx `[B, C, H, W]` (sum of each 2x2 block).
    public func backward(_ dy: Tensor) -> Tensor {
        let H = inputShape[2], W = inputShape[3]
        require(dy.shape == [inputShape[0], inputShape[1], 2 * H, 2 * W], "Upsample2x.backward: gradient shape \(dy.shape) for input \(inputShape)")
        var dx = Tensor(zeros: inputShape)
        let planes = inputShape[0] * inputShape[1]
        dy.data.withUnsafeBufferPointer { gp in dx.data.withUnsafeMutableBufferPointer { dp in
            let G = gp.baseAddress!, D = dp.baseAddress!
            Parallel.forEach(planes, minPerChunk: max(1, Parallel.elementwiseGrain / (4 * H * W))) { p in
                let gs = G + p * 4 * H * W, ds = D + p * H * W
                for i in 0..<H {
                    let r0 = gs + (2 * i) * 2 * W, r1 = r0 + 2 * W
                    for j in 0..<W { ds[i * W + j] = r0[2 * j] + r0[2 * j + 1] + r1[2 * j] + r1[2 * j + 1] }
                }
            }
        }}
        return dx
    }
}
