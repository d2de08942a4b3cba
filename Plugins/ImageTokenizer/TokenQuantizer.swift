import MuseCore
import MuseEngine

/// The swappable quantizer between the tokenizer's encoder and decoder.
protocol TokenQuantizer: Module {
    /// Latent channels it reads.
    var dim: Int { get }
    /// Number of token ids.
    var vocabularySize: Int { get }
    /// z `[B, dim, h, w]` -> quantized latent (same shape), token ids `[B * h * w]`,
    /// and the quantizer's own loss (0 for FSQ). `training` updates usage statistics.
    func forward(_ z: Tensor, training: Bool) -> (quantized: Tensor, ids: [Int32], loss: Float)
    /// dq -> dz (straight-through plus the quantizer loss's gradient).
    func backward(_ dq: Tensor) -> Tensor
    /// The quantized latent `[B, dim, h, w]` of token ids `[B, h, w]`.
    func latent(ids: [Int32], batch: Int, height: Int, width: Int) -> Tensor
}

/// FSQ as a tokenizer quantizer (no parameters).
final class FSQTokenQuantizer: TokenQuantizer {
    let fsq: FiniteScalarQuantizer
    init(levels: [Int]) { fsq = FiniteScalarQuantizer(levels: levels) }
    var namedParameters: [(name: String, param: Parameter)] { [] }
    var dim: Int { fsq.dim }
    var vocabularySize: Int { fsq.codes }
    func forward(_ z: Tensor, training: Bool) -> (quantized: Tensor, ids: [Int32], loss: Float) {
        let (q, ids) = fsq.forward(z)
        return (q, ids, 0)
    }
    func backward(_ dq: Tensor) -> Tensor { fsq.backward(dq) }
    func latent(ids: [Int32], batch: Int, height: Int, width: Int) -> Tensor {
        fsq.values(ids: ids, batch: batch, height: height, width: width)
    }
}

/// The l2-normalised learned codebook as a tokenizer quantizer.
final class CodebookTokenQuantizer: TokenQuantizer {
    let vq: CosineCodebookQuantizer
    init(codes: Int, dim: Int, commitment: Float, backend: ComputeBackend, rng: inout SeededRNG) {
        vq = CosineCodebookQuantizer(codes: codes, dim: dim, beta: commitment, backend: backend, rng: &rng)
    }
    var namedParameters: [(name: String, param: Parameter)] { vq.namedParameters }
    var namedBuffers: [(name: String, param: Parameter)] { vq.namedBuffers }
    var dim: Int { vq.dim }
    var vocabularySize: Int { vq.codes }
    func forward(_ z: Tensor, training: Bool) -> (quantized: Tensor, ids: [Int32], loss: Float) {
        let o = vq.forward(z, training: training)
        return (o.quantized, o.indices.map { Int32($0) }, o.loss)
    }
    func backward(_ dq: Tensor) -> Tensor { vq.backward(dq) }
    func latent(ids: [Int32], batch: Int, height: Int, width: Int) -> Tensor {
        vq.values(ids: ids.map { Int($0) }, batch: batch, height: height, width: width)
    }
}
