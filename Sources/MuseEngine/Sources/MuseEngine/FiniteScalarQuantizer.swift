import Foundation

/// Finite scalar quantization (Mentzer et al. 2023, "Finite Scalar Quantization:
/// VQ-VAE Made Simple"; matches `vector_quantize_pytorch.FSQ`).
///
/// Each of the `levels.count` channels of `z [B, D, H, W]` is bounded with
/// `b(z) = tanh(z + shift) * h - offset` (`h = (L - 1)(1 + 1e-3) / 2`, `offset = 0.5`
/// for even `L`, `shift = atanh(offset / h)`), rounded to one of `L` integers, and
/// divided by `L / 2` (integer division), so values lie in [-1, 1]. The implicit
/// codebook has `levels.reduce(1, *)` codes (8x5x5x5 = 1,000); a code's id is the
/// mixed-radix number of its per-channel digits `round(b(z)) + L / 2`, first
/// channel least significant. No parameters, no codebook loss, no dead codes.
/// Rounding passes gradients straight through: `dq/dz = b'(z) / (L / 2)`.
public final class FiniteScalarQuantizer {
    public let levels: [Int]
    /// Number of implicit codes (product of the levels).
    public let codes: Int
    private let halfL: [Float], offset: [Float], shift: [Float], halfWidth: [Float]
    private let basis: [Int]
    private var derivative = Tensor(zeros: [0])   // b'(z) / halfWidth, cached by forward

    /// - Parameter levels: quantization levels per channel, each at least 2.
    public init(levels: [Int]) {
        precondition(!levels.isEmpty && levels.allSatisfy { $0 >= 2 }, "FSQ: levels \(levels) must be non-empty and each >= 2")
        self.levels = levels
        codes = levels.reduce(1, *)
        let eps: Float = 1e-3
        halfL = levels.map { Float($0 - 1) * (1 + eps) / 2 }
        offset = levels.map { $0 % 2 == 0 ? 0.5 : 0 }
        shift = zip(offset, halfL).map { atanh($0 / $1) }
        halfWidth = levels.map { Float($0 / 2) }
        var b: [Int] = [], acc = 1
        for l in levels { b.append(acc); acc *= l }
        basis = b
    }

    /// Channels of the latent this quantizer reads.
    public var dim: Int { levels.count }

    /// z: `[B, D, H, W]` -> (quantized `[B, D, H, W]` in [-1, 1], code ids `[B * H * W]` in
    /// (b, y, x) order). Caches the straight-through derivative for `backward`.
    public func forward(_ z: Tensor) -> (quantized: Tensor, indices: [Int32]) {
        require(z.rank == 4 && z.shape[1] == dim, "FSQ.forward: input shape \(z.shape), expected [B, \(dim), H, W]")
        require(!z.data.contains { !$0.isFinite }, "FSQ.forward: the latent holds NaN or infinite values (a diverged model)")
        let B = z.shape[0], D = dim, HW = z.shape[2] * z.shape[3]
        var q = z
        derivative = z
        var ids = [Int32](repeating: 0, count: B * HW)
        for b in 0..<B {
            for d in 0..<D {
                let h = halfL[d], o = offset[d], s = shift[d], hw = halfWidth[d], base = (b * D + d) * HW
                let digitWeight = Int32(basis[d])
                for p in 0..<HW {
                    let t = Foundation.tanh(z.data[base + p] + s)
                    let r = (t * h - o).rounded(.toNearestOrEven)
                    q.data[base + p] = r / hw
                    derivative.data[base + p] = h * (1 - t * t) / hw
                    ids[b * HW + p] += Int32(r + hw) * digitWeight
                }
            }
        }
        return (q, ids)
    }

    /// dq `[B, D, H, W]` -> dz (straight-through rounding).
    public func backward(_ dq: Tensor) -> Tensor {
        require(dq.shape == derivative.shape, "FSQ.backward: gradient shape \(dq.shape), expected \(derivative.shape)")
        var dz = dq
        for i in 0..<dz.count { dz.data[i] *= derivative.data[i] }
        return dz
    }

    /// The quantized values `[B, D, H, W]` of code ids laid out `[B, H, W]`.
    /// Ids must be in `0..<codes`.
    public func values(ids: [Int32], batch B: Int, height H: Int, width W: Int) -> Tensor {
        require(ids.count == B * H * W, "FSQ.values: \(ids.count) ids for a [\(B), \(H), \(W)] grid")
        let D = dim, HW = H * W
        var q = Tensor(zeros: [B, D, H, W])
        for b in 0..<B {
            for p in 0..<HW {
                var id = Int(ids[b * HW + p])
                require(id >= 0 && id < codes, "FSQ.values: id \(id) outside 0..<\(codes)")
                for d in 0..<D {
                    let digit = id % levels[d]
                    id /= levels[d]
                    q.data[(b * D + d) * HW + p] = (Float(digit) - halfWidth[d]) / halfWidth[d]
                }
            }
        }
        return q
    }
}
