import MuseCore

/// `image.extend`: grows the canvas (for outpainting) and marks the new area.
final class ExtendCanvasStage: Stage {
    static let descriptor = StageDescriptor(StageSpec(
        kind: "image.extend",
        summary: "Pad an image with new canvas on any side (outpainting); also gives the mask of the added area. The canvas may be at most 8192 x 8192 pixels in all.",
        config: [
            ConfigKey("left", .int, default: .int(0), range: 0...8192, doc: "pixels added on the left"),
            ConfigKey("right", .int, default: .int(0), range: 0...8192, doc: "pixels added on the right"),
            ConfigKey("top", .int, default: .int(0), range: 0...8192, doc: "pixels added on top"),
            ConfigKey("bottom", .int, default: .int(0), range: 0...8192, doc: "pixels added at the bottom"),
            ConfigKey("fill", .string, default: .string("gray"), choices: ["white", "black", "gray", "edge"],
                      doc: "what the new canvas holds before generation: a flat colour, or the nearest edge pixel repeated"),
        ],
        inputs: [PortSpec("image", .image, doc: "the image to extend")],
        outputs: [
            PortSpec("image", .image, doc: "the larger canvas with the image inside"),
            PortSpec("mask", .mask, doc: "1 on the added area, 0 on the original image"),
        ]
    )) { try ExtendCanvasStage($0) }

    let left: Int, right: Int, top: Int, bottom: Int, fill: String
    init(_ c: StageConfig) throws {
        left = try c.int("left"); right = try c.int("right"); top = try c.int("top"); bottom = try c.int("bottom")
        fill = try c.string("fill")
    }

    func run(_ inputs: StageInputs, _ context: StageContext) throws -> [String: Value] {
        let src = try inputs.image("image")
        let w = src.width + left + right, h = src.height + top + bottom
        try ImageLimits.check(width: w, height: h, what: "the canvas (the \(src.width)x\(src.height) image + left \(left), right \(right), top \(top), bottom \(bottom))")
        let colour: [Float]
        switch fill {
        case "white": colour = [1, 1, 1]
        case "black": colour = [0, 0, 0]
        default: colour = [0.5, 0.5, 0.5]
        }
        var canvas = Image(width: w, height: h, fill: src.channels == 4 ? colour + [1] : colour)
        var mask = Mask(width: w, height: h, fill: 1)
        for y in 0..<h {
            for x in 0..<w {
                let sx = x - left, sy = y - top
                let inside = sx >= 0 && sy >= 0 && sx < src.width && sy < src.height
                if inside { mask.values[y * w + x] = 0 }
                if inside || fill == "edge" {
                    let cx = min(max(sx, 0), src.width - 1), cy = min(max(sy, 0), src.height - 1)
                    let s = src.index(cx, cy), d = canvas.index(x, y)
                    for c in 0..<src.channels { canvas.pixels[d + c] = src.pixels[s + c] }
                }
            }
        }
        return ["image": .image(canvas), "mask": .mask(mask)]
    }
}
