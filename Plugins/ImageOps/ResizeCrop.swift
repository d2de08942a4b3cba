import MuseCore

/// `image.resize`: resamples to a given size.
final class ResizeStage: Stage {
    static let descriptor = StageDescriptor(StageSpec(
        kind: "image.resize",
        summary: "Resample an image to width x height (at most 8192 x 8192 pixels in all).",
        config: [
            ConfigKey("width", .int, range: 1...16384, doc: "output width in pixels"),
            ConfigKey("height", .int, range: 1...16384, doc: "output height in pixels"),
            ConfigKey("filter", .string, default: .string("box"), choices: ResizeFilter.allCases.map(\.rawValue),
                      doc: "box = area averaging (for shrinking), bilinear (for enlarging), nearest"),
        ],
        inputs: [PortSpec("image", .image, doc: "the image to resize")],
        outputs: [PortSpec("image", .image, doc: "the resized image")]
    )) { try ResizeStage($0) }

    let width: Int, height: Int, filter: ResizeFilter
    init(_ c: StageConfig) throws {
        width = try c.int("width"); height = try c.int("height")
        filter = ResizeFilter(rawValue: try c.string("filter"))!
        try ImageLimits.check(width: width, height: height, what: "the resized image")
    }

    func run(_ inputs: StageInputs, _ context: StageContext) throws -> [String: Value] {
        ["image": .image(try inputs.image("image").resized(width: width, height: height, filter: filter))]
    }
}

/// `image.crop`: cuts out a rectangle.
final class CropStage: Stage {
    static let descriptor = StageDescriptor(StageSpec(
        kind: "image.crop",
        summary: "Cut the rectangle x, y, width, height out of an image.",
        config: [
            ConfigKey("x", .int, default: .int(0), range: 0...16384, doc: "left edge"),
            ConfigKey("y", .int, default: .int(0), range: 0...16384, doc: "top edge"),
            ConfigKey("width", .int, range: 1...16384, doc: "width of the rectangle"),
            ConfigKey("height", .int, range: 1...16384, doc: "height of the rectangle"),
        ],
        inputs: [PortSpec("image", .image, doc: "the image to crop")],
        outputs: [PortSpec("image", .image, doc: "the rectangle")]
    )) { try CropStage($0) }

    let x: Int, y: Int, width: Int, height: Int
    init(_ c: StageConfig) throws {
        x = try c.int("x"); y = try c.int("y"); width = try c.int("width"); height = try c.int("height")
    }

    func run(_ inputs: StageInputs, _ context: StageContext) throws -> [String: Value] {
        let img = try inputs.image("image")
        guard x + width <= img.width, y + height <= img.height else {
            throw MuseError("crop \(width)x\(height) at (\(x), \(y)) does not fit in the \(img.width)x\(img.height) image")
        }
        return ["image": .image(img.cropped(x: x, y: y, width: width, height: height))]
    }
}
