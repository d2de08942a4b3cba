import Foundation
import MuseCore
import MuseEngine

/// An image tokenizer: encoder -> quantizer -> decoder (paper section 2.2: a
/// fully convolutional VQ autoencoder; here with a swappable quantizer).
/// Parameter names: `encoder.*`, `quantizer.*` (codebook only), `decoder.*`.
/// A weights file carries the architecture (`muse.tokenizer`, JSON) and the
/// name of its codebook (`muse.codebook`) in its metadata.
public final class ImageTokenizerModel: Module {
    public let config: TokenizerConfig
    /// Name of the backend its convolutions run on.
    public let backendName: String
    /// Names the token vocabulary: token grids carry it, decoders check it.
    public var codebookName: String
    let encoder: TokenizerEncoder
    let quantizer: TokenQuantizer
    let decoder: TokenizerDecoder

    /// - Parameter backend: runs every convolution (default: the process default, `Engine.backend`).
    public init(_ config: TokenizerConfig, codebookName: String, seed: UInt64, backend: ComputeBackend = Engine.backend) throws {
        try config.validate()
        backendName = backend.name
        self.config = config
        self.codebookName = codebookName
        var rng = SeededRNG(seed: seed)
        encoder = TokenizerEncoder(config, backend: backend, rng: &rng)
        switch config.quantizer {
        case .fsq: quantizer = FSQTokenQuantizer(levels: config.fsqLevels)
        case .codebook: quantizer = CodebookTokenQuantizer(codes: config.codebookSize, dim: config.codebookDim,
                                                           commitment: config.commitment, backend: backend, rng: &rng)
        }
        decoder = TokenizerDecoder(config, backend: backend, rng: &rng)
    }

    public var namedParameters: [(name: String, param: Parameter)] {
        nest("encoder", encoder) + nest("quantizer", quantizer) + nest("decoder", decoder)
    }
    public var namedBuffers: [(name: String, param: Parameter)] { nestBuffers("quantizer", quantizer) }

    /// Metadata that makes a weights file self-describing.
    public var metadata: [String: String] {
        ["muse.tokenizer": config.json(), "muse.codebook": codebookName, "muse.kind": "image-tokenizer"]
    }

    /// Which parts of a tokenizer a weights file must provide.
    public enum Parts: String, Sendable {
        /// Encoder, quantizer and decoder.
        case all
        /// Quantizer and decoder (a decoder stage; a fine-tuned decoder file needs no encoder).
        case decoder
        /// Encoder and quantizer (an encoder stage).
        case encoder
    }

    /// Reads the architecture and codebook name from a weights file's metadata and loads
    /// the weights of `parts` (the other parts keep their initial values and must not be used).
    public static func load(contentsOf url: URL, parts: Parts = .all) throws -> ImageTokenizerModel {
        let reader = try CheckpointReader(url)
        guard let json = reader.metadata["muse.tokenizer"] else {
            throw MuseError("\(url.path): not image-tokenizer weights (no 'muse.tokenizer' metadata)")
        }
        guard let name = reader.metadata["muse.codebook"], !name.isEmpty else {
            throw MuseError("\(url.path): no 'muse.codebook' metadata naming the codebook")
        }
        let config = try TokenizerConfig.parse(json: json, source: url.path)
        let model = try ImageTokenizerModel(config, codebookName: name, seed: 0)
        switch parts {
        case .all:
            try model.loadStrict(from: reader, what: "tokenizer")
        case .decoder:
            try model.quantizer.load(from: reader, prefix: "quantizer.")
            try model.decoder.load(from: reader, prefix: "decoder.")
        case .encoder:
            try model.quantizer.load(from: reader, prefix: "quantizer.")
            try model.encoder.load(from: reader, prefix: "encoder.")
        }
        return model
    }

    /// Writes the weights (parameters and buffers) with their metadata to one
    /// safetensors file (atomic), as F32 or F16 (`.f16` halves the file; shipped weights).
    public func saveWeights(to url: URL, dtype: SafeTensorDType = .f32, extra: [String: String] = [:]) throws {
        try saveWeights(to: url, dtype: dtype, metadata: metadata.merging(extra) { a, _ in a }, what: "tokenizer")
    }

    // MARK: Images <-> tensors

    /// RGB images of one size in [0, 1] -> `[B, 3, H, W]` in [-1, 1].
    public static func tensor(_ images: [Image]) throws -> Tensor {
        guard let first = images.first else { throw MuseError("tokenizer: no images") }
        let W = first.width, H = first.height
        var t = Tensor(zeros: [images.count, 3, H, W])
        for (b, img0) in images.enumerated() {
            guard img0.width == W, img0.height == H else {
                throw MuseError("tokenizer: images of different sizes (\(W)x\(H) and \(img0.width)x\(img0.height)) in one batch")
            }
            let img = img0.channels == 3 ? img0 : img0.rgb()
            for y in 0..<H { for x in 0..<W { for c in 0..<3 {
                t.data[((b * 3 + c) * H + y) * W + x] = img.pixels[(y * W + x) * 3 + c] * 2 - 1
            } } }
        }
        return t
    }

    /// `[B, 3, H, W]` in [-1, 1] -> RGB images in [0, 1] (clamped).
    public static func images(_ t: Tensor) -> [Image] {
        let B = t.shape[0], H = t.shape[2], W = t.shape[3]
        return (0..<B).map { b in
            var px = [Float](repeating: 0, count: H * W * 3)
            for y in 0..<H { for x in 0..<W { for c in 0..<3 {
                px[(y * W + x) * 3 + c] = min(1, max(0, (t.data[((b * 3 + c) * H + y) * W + x] + 1) / 2))
            } } }
            return Image(width: W, height: H, channels: 3, pixels: px)
        }
    }

    /// Convolution FLOPs of one forward pass of `batch` images of `height` x `width`
    /// through the encoder and through the decoder (training counts 3x their sum).
    public func forwardFlops(batch: Int, height: Int, width: Int) -> (encoder: Double, decoder: Double) {
        let f = config.downsampling
        return (encoder.forwardFlops([batch, 3, height, width]),
                decoder.forwardFlops([batch, config.latentDim, height / f, width / f]))
    }

    // MARK: Inference

    /// Throws unless both sides of the images are positive multiples of the downsampling factor.
    func checkSize(width: Int, height: Int) throws {
        let f = config.downsampling
        guard width > 0, height > 0, width % f == 0, height % f == 0 else {
            throw MuseError("tokenizer: image size \(width)x\(height) is not a multiple of \(f) (one token per \(f)x\(f) pixels)")
        }
    }

    /// Token grids of `images` (all one size, sides multiples of the downsampling factor).
    public func encode(_ images: [Image]) throws -> [TokenGrid] {
        let x = try ImageTokenizerModel.tensor(images)
        try checkSize(width: x.shape[3], height: x.shape[2])
        let z = encoder.forward(x)
        let h = z.shape[2], w = z.shape[3]
        let ids = quantizer.forward(z, training: false).ids
        return (0..<images.count).map { b in
            TokenGrid(ids: Array(ids[(b * h * w)..<((b + 1) * h * w)]), height: h, width: w, codebook: codebookName)
        }
    }

    /// Images of token grids (all one shape, of this tokenizer's codebook).
    public func decode(_ grids: [TokenGrid]) throws -> [Image] {
        guard let g0 = grids.first else { throw MuseError("tokenizer: no token grids") }
        var ids: [Int32] = []
        for g in grids {
            guard g.codebook == codebookName else {
                throw MuseError("token grid of codebook '\(g.codebook)' given to a decoder of codebook '\(codebookName)'")
            }
            guard g.height == g0.height, g.width == g0.width else { throw MuseError("tokenizer: token grids of different shapes in one batch") }
            if let bad = g.ids.first(where: { $0 < 0 || Int($0) >= config.vocabularySize }) {
                throw MuseError("token id \(bad) outside the codebook's 0..<\(config.vocabularySize)")
            }
            ids += g.ids
        }
        let q = quantizer.latent(ids: ids, batch: grids.count, height: g0.height, width: g0.width)
        return ImageTokenizerModel.images(decoder.forward(q))
    }

    /// encode -> decode in one pass (no token grids built).
    public func reconstruct(_ images: [Image]) throws -> (images: [Image], ids: [Int32]) {
        let x = try ImageTokenizerModel.tensor(images)
        try checkSize(width: x.shape[3], height: x.shape[2])
        let (q, ids, _) = quantizer.forward(encoder.forward(x), training: false)
        return (ImageTokenizerModel.images(decoder.forward(q)), ids)
    }

    // MARK: Training

    /// Losses of one training step.
    public struct StepLosses {
        /// Mean squared error of the reconstruction (pixels in [-1, 1]).
        public var reconstruction: Float
        /// The quantizer's loss (codebook + commitment; 0 for FSQ).
        public var quantizer: Float
        public var total: Float { reconstruction + quantizer }
    }

    /// Forward and backward of `x [B, 3, H, W]` (in [-1, 1]) with the MSE
    /// reconstruction loss; accumulates gradients (call `zeroGrad()` first).
    public func trainStep(_ x: Tensor) -> StepLosses {
        let z = encoder.forward(x)
        let (q, _, qloss) = quantizer.forward(z, training: true)
        let y = decoder.forward(q)
        let rec = Losses.mse(y, x)
        _ = encoder.backward(quantizer.backward(decoder.backward(rec.grad)))
        return StepLosses(reconstruction: rec.loss, quantizer: qloss)
    }

    /// Re-initialises unused codebook entries from the last batch (codebook quantizer only).
    @discardableResult
    public func resetDeadCodes(minUsage: Float, rng: inout SeededRNG) -> Int {
        (quantizer as? CodebookTokenQuantizer)?.vq.resetDeadCodes(minUsage: minUsage, rng: &rng) ?? 0
    }
}
