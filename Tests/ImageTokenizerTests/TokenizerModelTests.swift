import XCTest
import Foundation
import MuseCore
@testable import MuseEngine
import MuseTestSupport
@testable import MuseImageTokenizer

/// A tiny architecture for fast tests: f = 4 (three levels), 4/8/8 channels.
func tinyConfig(_ q: TokenizerConfig.QuantizerKind = .fsq) -> TokenizerConfig {
    var c = TokenizerConfig()
    c.width = 4; c.channelMultipliers = [1, 2, 2]; c.encoderBlocks = 1; c.decoderBlocks = 1; c.groups = 2
    c.quantizer = q; c.fsqLevels = [5, 3]; c.codebookSize = 12; c.codebookDim = 3
    return c
}

final class TokenizerModelTests: XCTestCase {
    /// Reference tests run in fp32 whatever the process default is.
    let fp32 = OpenBLASBackend()

    func testResidualBlockGradients() {
        var rng = SeededRNG(seed: 1)
        for (inC, outC) in [(4, 4), (4, 6)] {
            let blk = ConvResidualBlock(inC, outC, groups: 2, backend: fp32, rng: &rng)
            let x = Parameter(randn([2, inC, 5, 4], &rng))
            let y = blk.forward(x.value)
            XCTAssertEqual(y.shape, [2, outC, 5, 4])
            let r = randn(y.shape, &rng)
            blk.zeroGrad()
            let dx = blk.backward(r)
            let loss = { dot(blk.forward(x.value), r) }
            checkGradient("block \(inC)->\(outC) dx", x, analytic: dx, loss: loss)
            for (name, p) in blk.namedParameters { checkGradient("block \(inC)->\(outC) \(name)", p, analytic: p.grad, loss: loss) }
        }
    }

    func testEncoderAndDecoderGradients() {
        var rng = SeededRNG(seed: 2)
        let c = tinyConfig()
        let enc = TokenizerEncoder(c, backend: fp32, rng: &rng), dec = TokenizerDecoder(c, backend: fp32, rng: &rng)
        let x = Parameter(randn([2, 3, 8, 8], &rng, std: 0.5))
        let z = enc.forward(x.value)
        XCTAssertEqual(z.shape, [2, 2, 2, 2])
        let rz = randn(z.shape, &rng)
        enc.zeroGrad()
        let dx = enc.backward(rz)
        let encLoss = { dot(enc.forward(x.value), rz) }
        checkGradient("encoder dx", x, analytic: dx, loss: encLoss)
        for (name, p) in enc.namedParameters where name.hasSuffix("weight") { checkGradient("encoder \(name)", p, analytic: p.grad, samples: 6, loss: encLoss) }

        let q = Parameter(randn([2, 2, 2, 2], &rng))
        let y = dec.forward(q.value)
        XCTAssertEqual(y.shape, [2, 3, 8, 8])
        let ry = randn(y.shape, &rng)
        dec.zeroGrad()
        let dq = dec.backward(ry)
        let decLoss = { dot(dec.forward(q.value), ry) }
        checkGradient("decoder dq", q, analytic: dq, loss: decLoss)
        for (name, p) in dec.namedParameters where name.hasSuffix("weight") { checkGradient("decoder \(name)", p, analytic: p.grad, samples: 6, loss: decLoss) }
    }

    /// The training step's decoder gradients equal finite differences of the reconstruction
    /// loss (the quantized latent does not move when only the decoder changes).
    func testTrainStepDecoderGradients() throws {
        var rng = SeededRNG(seed: 3)
        let m = try ImageTokenizerModel(tinyConfig(), codebookName: "t", seed: 3, backend: fp32)
        let x = randn([2, 3, 8, 8], &rng, std: 0.5)
        // At this random init the latent is near 0 and quantizes to one code everywhere: the
        // decoder's activations are then nearly constant and its group norms nearly singular
        // (gradients ~1e14 that finite differences cannot follow). Spread the latent out.
        m.encoder.convOut.weight.value.scale(40)
        let codes = Set(m.quantizer.forward(m.encoder.forward(x), training: false).ids)
        XCTAssertGreaterThanOrEqual(codes.count, 4, "the latent should use several codes")
        m.zeroGrad()
        let l = m.trainStep(x)
        XCTAssertEqual(l.quantizer, 0)
        let loss = { () -> Double in
            let q = m.quantizer.forward(m.encoder.forward(x), training: false).quantized
            return Double(Losses.mse(m.decoder.forward(q), x).loss)
        }
        XCTAssertEqual(loss(), Double(l.reconstruction), accuracy: 1e-6)
        for (name, p) in m.decoder.namedParameters.prefix(4) { checkGradient("decoder \(name)", p, analytic: p.grad, h: 1e-3, samples: 6, loss: loss) }
    }

    func testEncodeDecodeShapesAndCodebookChecks() throws {
        let m = try ImageTokenizerModel(tinyConfig(), codebookName: "tiny-book", seed: 4, backend: fp32)
        let img = Image(width: 12, height: 8, fill: [0.2, 0.5, 0.9])
        let grids = try m.encode([img, img])
        XCTAssertEqual(grids.count, 2)
        XCTAssertEqual(grids[0].height, 2); XCTAssertEqual(grids[0].width, 3)
        XCTAssertEqual(grids[0].codebook, "tiny-book")
        XCTAssertEqual(grids[0], grids[1])
        XCTAssertTrue(grids[0].ids.allSatisfy { $0 >= 0 && $0 < 15 })
        let out = try m.decode(grids)
        XCTAssertEqual(out[0].width, 12); XCTAssertEqual(out[0].height, 8)
        XCTAssertTrue(out[0].pixels.allSatisfy { $0 >= 0 && $0 <= 1 })
        // decode(encode(x)) is what reconstruct computes in one pass.
        XCTAssertEqual(try m.reconstruct([img]).images[0], out[0])

        var other = grids[0]; other.codebook = "another-book"
        XCTAssertThrowsError(try m.decode([other])) { XCTAssertTrue("\($0)".contains("another-book"), "\($0)") }
        var bad = grids[0]; bad.ids[0] = 15
        XCTAssertThrowsError(try m.decode([bad])) { XCTAssertTrue("\($0)".contains("15"), "\($0)") }
        XCTAssertThrowsError(try m.encode([Image(width: 10, height: 8, fill: [0, 0, 0])])) {
            XCTAssertTrue("\($0)".contains("multiple of 4"), "\($0)")
        }
    }

    func testSaveLoadRoundTripBothQuantizers() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tok-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        for q in TokenizerConfig.QuantizerKind.allCases {
            let m = try ImageTokenizerModel(tinyConfig(q), codebookName: "book-\(q)", seed: 5, backend: fp32)
            let url = dir.appendingPathComponent("\(q).safetensors")
            try m.saveWeights(to: url)
            let back = try ImageTokenizerModel.load(contentsOf: url)
            XCTAssertEqual(back.config, m.config)
            XCTAssertEqual(back.codebookName, "book-\(q)")
            let img = Image(width: 8, height: 8, pixels: (0..<192).map { Float($0 % 17) / 16 })
            XCTAssertEqual(try back.encode([img]), try m.encode([img]))
            let dec = try ImageTokenizerModel.load(contentsOf: url, parts: .decoder)
            XCTAssertEqual(try dec.decode(try m.encode([img])), try m.decode(try m.encode([img])))
        }
        // Tensors that belong to no parameter (another architecture than the metadata says) are refused.
        let m = try ImageTokenizerModel(tinyConfig(), codebookName: "x", seed: 1, backend: fp32)
        var state = m.stateDict()
        state["encoder.blocks.9.0.conv1.weight"] = Tensor(zeros: [2, 2])
        let extra = dir.appendingPathComponent("extra.safetensors")
        try Checkpoint.write(state, ints: [:], metadata: m.metadata, to: extra)
        XCTAssertThrowsError(try ImageTokenizerModel.load(contentsOf: extra)) {
            XCTAssertTrue("\($0)".contains("encoder.blocks.9.0.conv1.weight"), "\($0)")
        }
        // A file without the metadata is refused with a clear error.
        let plain = dir.appendingPathComponent("plain.safetensors")
        try Checkpoint.write(["x": Tensor(zeros: [2])], ints: [:], metadata: [:], to: plain)
        XCTAssertThrowsError(try ImageTokenizerModel.load(contentsOf: plain)) {
            XCTAssertTrue("\($0)".contains("not image-tokenizer weights"), "\($0)")
        }
    }

    /// Convolution FLOPs of the tiny config, counted by hand layer by layer (2 x MACs):
    /// encoder 13824 + 36864 + 4608 + 28672 + 4608 + 9216 + 1152; decoder 1152 + 9216 +
    /// 18432 + 36864 + 36864 + 36864 + 13824.
    func testForwardFlops() throws {
        let m = try ImageTokenizerModel(tinyConfig(), codebookName: "t", seed: 1, backend: fp32)
        let f = m.forwardFlops(batch: 1, height: 8, width: 8)
        XCTAssertEqual(f.encoder, 98944)
        XCTAssertEqual(f.decoder, 153216)
        XCTAssertEqual(m.forwardFlops(batch: 3, height: 8, width: 8).decoder, 3 * 153216)
    }

    func testConfigValidationAndJSON() throws {
        var c = TokenizerConfig()
        XCTAssertEqual(c.downsampling, 8)
        XCTAssertEqual(c.vocabularySize, 1000)
        XCTAssertEqual(try TokenizerConfig.parse(json: c.json(), source: "t"), c)
        c.groups = 3
        XCTAssertThrowsError(try c.validate())
        c = TokenizerConfig(); c.fsqLevels = [1, 5]
        XCTAssertThrowsError(try c.validate())
        XCTAssertThrowsError(try TokenizerConfig.parse(json: "{\"width\": 32}", source: "w.safetensors")) {
            XCTAssertTrue("\($0)".contains("w.safetensors"), "\($0)")
        }
        // A key this version does not know (a newer architecture) is refused, not ignored.
        var newer = TokenizerConfig().json()
        newer.removeLast()
        newer += ",\"attention_levels\":[3]}"
        XCTAssertThrowsError(try TokenizerConfig.parse(json: newer, source: "n.safetensors")) {
            XCTAssertTrue("\($0)".contains("attention_levels"), "\($0)")
        }
    }
}
