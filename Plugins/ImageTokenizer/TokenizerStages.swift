import Foundation
import MuseCore
import MuseEngine

/// `tokenizer.encode`: an image to a token grid (encoder + quantizer of a tokenizer's weights).
final class TokenizerEncodeStage: Stage {
    static let descriptor = StageDescriptor(StageSpec(
        kind: "tokenizer.encode",
        summary: "Encode an image into a grid of discrete tokens with a trained image tokenizer (fully convolutional encoder + FSQ or codebook quantizer; one token per f x f pixels, f = 8 for the shipped tokenizers). The grid names the tokenizer's codebook.",
        config: [
            ConfigKey("image_size", .int, default: .int(0), range: 0...4096,
                      doc: "the square image size this pipeline expects (an image of another size is an error); 0 accepts any size whose sides are multiples of the downsampling factor"),
        ],
        inputs: [PortSpec("image", .image, doc: "RGB or RGBA image (alpha is composited over white)")],
        outputs: [PortSpec("tokens", .tokenGrid, doc: "token ids, (height/f) x (width/f), with the codebook's name")],
        weights: .required
    )) { try TokenizerEncodeStage($0) }

    let model: ImageTokenizerModel
    let imageSize: Int

    init(_ c: StageConfig) throws {
        model = try ImageTokenizerModel.shared(try c.requireWeights(), parts: .encoder)
        imageSize = try c.int("image_size")
    }

    func run(_ inputs: StageInputs, _ context: StageContext) throws -> [String: Value] {
        let image = try inputs.image("image")
        if imageSize > 0 && (image.width != imageSize || image.height != imageSize) {
            throw MuseError("the image is \(image.width)x\(image.height) but this tokenizer stage expects \(imageSize)x\(imageSize) (resize it first, e.g. with an image.resize stage)")
        }
        return ["tokens": .tokenGrid(try model.encode([image.rgb()])[0])]
    }
}

/// `tokenizer.decode`: a token grid to an image (quantizer + decoder). Any decoder
/// trained for the same codebook drops in by changing `weights:`.
final class TokenizerDecodeStage: Stage {
    static let descriptor = StageDescriptor(StageSpec(
        kind: "tokenizer.decode",
        summary: "Decode a token grid into an image with a tokenizer's decoder. The weights may be a whole tokenizer or a decoder trained for the same codebook; a grid of another codebook is an error.",
        inputs: [PortSpec("tokens", .tokenGrid, doc: "token ids with the codebook's name")],
        outputs: [PortSpec("image", .image, doc: "RGB image, (height*f) x (width*f)")],
        weights: .required
    )) { try TokenizerDecodeStage($0) }

    let model: ImageTokenizerModel

    init(_ c: StageConfig) throws {
        model = try ImageTokenizerModel.shared(try c.requireWeights(), parts: .decoder)
    }

    func run(_ inputs: StageInputs, _ context: StageContext) throws -> [String: Value] {
        ["image": .image(try model.decode([try inputs.tokenGrid("tokens")])[0])]
    }
}

extension ImageTokenizerModel {
    nonisolated(unsafe) private static var instances: [String: ImageTokenizerModel] = [:]
    private static let instancesLock = NSLock()

    /// One model per (weights file, parts) in the process, so encode and decode
    /// stages and A/B variants share loaded weights.
    public static func shared(_ url: URL, parts: Parts) throws -> ImageTokenizerModel {
        let key = url.standardizedFileURL.path + "\u{0}" + parts.rawValue
        instancesLock.lock(); defer { instancesLock.unlock() }
        if let m = instances[key] { return m }
        let m = try ImageTokenizerModel.load(contentsOf: url, parts: parts)
        instances[key] = m
        return m
    }
}

/// The stage kinds the plugin registers.
public enum ImageTokenizerStages {
    public static let all: [StageDescriptor] = [TokenizerEncodeStage.descriptor, TokenizerDecodeStage.descriptor]
}
