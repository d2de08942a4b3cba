/// One named colour of a palette, as 8-bit sRGB.
public struct PaletteColour: Sendable, Equatable {
    public let name: String
    public let rgb: [UInt8]
    /// The colour as floats in [0, 1] (the renderer's and scorer's working space).
    public var float: [Float] { rgb.map { Float($0) / 255 } }
    public init(_ name: String, _ r: UInt8, _ g: UInt8, _ b: UInt8) { self.name = name; rgb = [r, g, b] }
}

/// Colour tables of the procedural scenes (../shared/SCENES.md, v1).
public enum SceneColours {
    /// The four flat backgrounds, in SCENES.md's order.
    public static let backgrounds: [PaletteColour] = [
        PaletteColour("white", 250, 250, 250), PaletteColour("gray", 215, 215, 215),
        PaletteColour("cream", 245, 235, 205), PaletteColour("light blue", 205, 225, 245),
    ]
    /// The eight object colours, in SCENES.md's order.
    public static let objects: [PaletteColour] = [
        PaletteColour("red", 220, 40, 40), PaletteColour("orange", 245, 135, 20),
        PaletteColour("yellow", 235, 200, 20), PaletteColour("green", 40, 160, 70),
        PaletteColour("blue", 40, 90, 220), PaletteColour("purple", 135, 60, 185),
        PaletteColour("pink", 240, 110, 175), PaletteColour("brown", 125, 75, 35),
    ]

    /// Index of the object colour called `name`, or nil.
    public static func objectIndex(_ name: String) -> Int? { objects.firstIndex { $0.name == name } }
    /// Index of the background called `name`, or nil.
    public static func backgroundIndex(_ name: String) -> Int? { backgrounds.firstIndex { $0.name == name } }
}
