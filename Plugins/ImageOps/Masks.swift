import Foundation
import MuseCore

/// `mask.rect`: a rectangular mask, sized like an input image or by config.
final class RectMaskStage: Stage {
    static let descriptor = StageDescriptor(StageSpec(
        kind: "mask.rect",
        summary: "A mask that is 1 inside the rectangle x, y, width, height (inpainting region) and 0 elsewhere.",
        config: [
            ConfigKey("x", .int, range: 0...16384, doc: "left edge of the rectangle"),
            ConfigKey("y", .int, range: 0...16384, doc: "top edge of the rectangle"),
            ConfigKey("width", .int, range: 1...16384, doc: "rectangle width"),
            ConfigKey("height", .int, range: 1...16384, doc: "rectangle height"),
            ConfigKey("canvas_width", .int, default: .int(0), range: 0...16384, doc: "mask width when no image is wired (0 = take the image's)"),
            ConfigKey("canvas_height", .int, default: .int(0), range: 0...16384, doc: "mask height when no image is wired (0 = take the image's)"),
            ConfigKey("invert", .bool, default: .bool(false), doc: "1 outside the rectangle instead of inside"),
        ],
        inputs: [PortSpec("image", .image, optional: true, doc: "an image whose size the mask takes")],
        outputs: [PortSpec("mask", .mask, doc: "the mask")]
    )) { try RectMaskStage($0) }

    let x: Int, y: Int, w: Int, h: Int, cw: Int, ch: Int, invert: Bool
    init(_ c: StageConfig) throws {
        x = try c.int("x"); y = try c.int("y"); w = try c.int("width"); h = try c.int("height")
        cw = try c.int("canvas_width"); ch = try c.int("canvas_height"); invert = try c.bool("invert")
    }

    func run(_ inputs: StageInputs, _ context: StageContext) throws -> [String: Value] {
        var width = cw, height = ch
        if inputs.has("image") {
            let img = try inputs.image("image")
            width = img.width; height = img.height
        }
        guard width > 0, height > 0 else {
            throw MuseError("mask.rect needs an image input or canvas_width and canvas_height")
        }
        try ImageLimits.check(width: width, height: height, what: "the mask")
        var m = Mask(width: width, height: height, fill: invert ? 1 : 0)
        // The rectangle clipped to the canvas (it may lie partly or wholly outside).
        let (y0, y1) = (min(max(0, y), height), min(height, y + h))
        let (x0, x1) = (min(max(0, x), width), min(width, x + w))
        for yy in y0..<max(y0, y1) {
            for xx in x0..<max(x0, x1) { m.values[yy * width + xx] = invert ? 0 : 1 }
        }
        return ["mask": .mask(m)]
    }
}

/// `mask.load`: a mask from a PNG (white = 1).
final class LoadMaskStage: Stage {
    static let descriptor = StageDescriptor(StageSpec(
        kind: "mask.load",
        summary: "Read a mask from a PNG: luminance (times alpha, if any); white = 1 = region to generate.",
        config: [
            ConfigKey("path", .path, doc: "PNG file to read (relative to the pipeline file)"),
            ConfigKey("threshold", .float, default: .float(-1), range: -1...1,
                      doc: "if >= 0, values above it become 1 and the rest 0; -1 keeps soft values"),
        ],
        outputs: [PortSpec("mask", .mask, doc: "the mask")]
    )) { try LoadMaskStage($0) }

    let url: URL, threshold: Double
    init(_ c: StageConfig) throws {
        guard let u = try c.path("path") else { throw MuseError("stage '\(c.stageName)': config 'path' is empty") }
        url = u; threshold = try c.float("threshold")
    }

    func run(_ inputs: StageInputs, _ context: StageContext) throws -> [String: Value] {
        var mask = Mask(luminanceOf: try PNGCodec.read(url))
        if threshold >= 0 { mask.values = mask.values.map { $0 > Float(threshold) ? 1 : 0 } }
        return ["mask": .mask(mask)]
    }
}
