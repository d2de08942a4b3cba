import Foundation
import MuseCore

/// `image.composite`: out = base * (1 - mask) + overlay * mask.
final class CompositeStage: Stage {
    static let descriptor = StageDescriptor(StageSpec(
        kind: "image.composite",
        summary: "Blend two same-size images through a mask: base where the mask is 0, overlay where it is 1. RGBA inputs are first flattened over white; the result is RGB.",
        inputs: [
            PortSpec("base", .image, doc: "kept where the mask is 0"),
            PortSpec("overlay", .image, doc: "taken where the mask is 1"),
            PortSpec("mask", .mask, doc: "blend weights in [0, 1] (resized to the images if needed)"),
        ],
        outputs: [PortSpec("image", .image, doc: "the blend")]
    )) { _ in CompositeStage() }

    func run(_ inputs: StageInputs, _ context: StageContext) throws -> [String: Value] {
        let base = try inputs.image("base").rgb(), over = try inputs.image("overlay").rgb()
        guard base.width == over.width, base.height == over.height else {
            throw MuseError("composite: base is \(base.width)x\(base.height) but overlay is \(over.width)x\(over.height)")
        }
        let mask = try inputs.mask("mask").resized(width: base.width, height: base.height, filter: .bilinear)
        var out = base
        for i in 0..<(base.width * base.height) {
            let m = mask.values[i]
            for c in 0..<3 { out.pixels[i * 3 + c] = base.pixels[i * 3 + c] * (1 - m) + over.pixels[i * 3 + c] * m }
        }
        return ["image": .image(out)]
    }
}

/// `image.grid`: lays up to four images side by side with labels.
final class GridStage: Stage {
    static let descriptor = StageDescriptor(StageSpec(
        kind: "image.grid",
        summary: "Lay up to four images out in a labelled grid.",
        config: [
            ConfigKey("labels", .string, default: .string(""), doc: "comma-separated labels, one per wired image (default: the port names)"),
            ConfigKey("columns", .int, default: .int(4), range: 1...4, doc: "images per row"),
            ConfigKey("cell", .int, default: .int(128), range: 16...2048, doc: "cell size in pixels (images are scaled to fit)"),
            ConfigKey("title", .string, default: .string(""), doc: "a line of text above the grid"),
        ],
        inputs: ["a", "b", "c", "d"].map { PortSpec($0, .image, optional: $0 != "a", doc: "image \($0)") },
        outputs: [PortSpec("image", .image, doc: "the grid")]
    )) { try GridStage($0) }

    let labels: [String], columns: Int, cell: Int, title: String
    init(_ c: StageConfig) throws {
        let l = try c.string("labels")
        labels = l.isEmpty ? [] : l.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        columns = try c.int("columns"); cell = try c.int("cell"); title = try c.string("title")
    }

    func run(_ inputs: StageInputs, _ context: StageContext) throws -> [String: Value] {
        let ports = ["a", "b", "c", "d"].filter { inputs.has($0) }
        let images = try ports.map { try inputs.image($0) }
        guard labels.isEmpty || labels.count == images.count else {
            throw MuseError("grid: \(labels.count) labels for \(images.count) images")
        }
        let grid = ImageGrid.make(images: images, labels: labels.isEmpty ? ports : labels,
                                  columns: min(columns, images.count), cellSize: cell, title: title.isEmpty ? nil : title)
        return ["image": .image(grid)]
    }
}
