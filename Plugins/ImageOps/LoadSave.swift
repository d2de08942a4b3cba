import Foundation
import MuseCore

/// `image.load`: reads a PNG named in the config.
final class LoadImageStage: Stage {
    static let descriptor = StageDescriptor(StageSpec(
        kind: "image.load",
        summary: "Read a PNG file (any colour type or bit depth) as an RGB or RGBA image.",
        config: [
            ConfigKey("path", .path, doc: "PNG file to read (relative to the pipeline file)"),
            ConfigKey("alpha", .string, default: .string("keep"), choices: ["keep", "white", "black"],
                      doc: "what to do with an alpha channel: keep it, or composite over white/black"),
        ],
        outputs: [PortSpec("image", .image, doc: "the image")]
    )) { try LoadImageStage($0) }

    let url: URL
    let alpha: String
    init(_ c: StageConfig) throws {
        guard let u = try c.path("path") else { throw MuseError("stage '\(c.stageName)': config 'path' is empty") }
        url = u; alpha = try c.string("alpha")
    }

    func run(_ inputs: StageInputs, _ context: StageContext) throws -> [String: Value] {
        let img = try PNGCodec.read(url)
        switch alpha {
        case "white": return ["image": .image(img.rgb(over: [1, 1, 1]))]
        case "black": return ["image": .image(img.rgb(over: [0, 0, 0]))]
        default: return ["image": .image(img)]
        }
    }
}

/// `image.save`: writes its input as PNG and passes it on.
final class SaveImageStage: Stage {
    static let descriptor = StageDescriptor(StageSpec(
        kind: "image.save",
        summary: "Write an image as an 8-bit PNG (atomically), and pass it on unchanged.",
        config: [ConfigKey("path", .path, doc: "PNG file to write (relative to the pipeline file); folders are created")],
        inputs: [PortSpec("image", .image, doc: "the image to write")],
        outputs: [PortSpec("image", .image, doc: "the same image, for chaining")]
    )) { try SaveImageStage($0) }

    let url: URL
    init(_ c: StageConfig) throws {
        guard let u = try c.path("path") else { throw MuseError("stage '\(c.stageName)': config 'path' is empty") }
        url = u
    }

    func run(_ inputs: StageInputs, _ context: StageContext) throws -> [String: Value] {
        let img = try inputs.image("image")
        try PNGCodec.write(img, to: url)
        return ["image": .image(img)]
    }
}
