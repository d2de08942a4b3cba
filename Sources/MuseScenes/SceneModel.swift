import Foundation
import MuseCore

/// The four object shapes of SCENES.md, each inscribed in an axis-aligned square box of side `s`.
public enum SceneShape: String, CaseIterable, Codable, Sendable {
    case circle, square, triangle, star

    /// The plural used by captions (`circles`, `squares`, `triangles`, `stars`).
    public var plural: String { rawValue + "s" }
}

/// A spatial relation between two groups (y grows downwards).
public enum SceneRelation: String, CaseIterable, Codable, Sendable {
    case leftOf = "to the left of"
    case rightOf = "to the right of"
    case above = "above"
    case below = "below"

    /// The relation that holds with the groups swapped (`A left of B` <=> `B right of A`).
    public var inverse: SceneRelation {
        switch self {
        case .leftOf: return .rightOf
        case .rightOf: return .leftOf
        case .above: return .below
        case .below: return .above
        }
    }

    /// Whether a centre `a` stands in this relation to a centre `b` with at least `margin` px
    /// between them along the relation's axis (margin 0 = strictly ordered, the scoring rule).
    public func holds(_ a: (x: Double, y: Double), _ b: (x: Double, y: Double), margin: Double) -> Bool {
        switch self {
        case .leftOf: return a.x < b.x - margin
        case .rightOf: return a.x > b.x + margin
        case .above: return a.y < b.y - margin
        case .below: return a.y > b.y + margin
        }
    }
}

/// A (colour, shape) pair, e.g. `purple star`.
public struct ColourShape: Hashable, Codable, Sendable, CustomStringConvertible {
    /// Index into `SceneColours.objects`.
    public var colour: Int
    public var shape: SceneShape
    public init(colour: Int, shape: SceneShape) { self.colour = colour; self.shape = shape }
    public var colourName: String { SceneColours.objects[colour].name }
    public var description: String { "\(colourName) \(shape.rawValue)" }

    /// The four pairs that never appear in training images or captions (SCENES.md "Held-out pairs").
    public static let heldOut: [ColourShape] = [
        ColourShape(colour: 5, shape: .star),      // purple star
        ColourShape(colour: 1, shape: .square),    // orange square
        ColourShape(colour: 3, shape: .circle),    // green circle
        ColourShape(colour: 6, shape: .triangle),  // pink triangle
    ]
    public var isHeldOut: Bool { ColourShape.heldOut.contains(self) }

    /// All 32 pairs, colour-major.
    public static let all: [ColourShape] = SceneColours.objects.indices.flatMap { c in
        SceneShape.allCases.map { ColourShape(colour: c, shape: $0) }
    }
}

/// One object of a scene: a colour, a shape and its box.
/// Box coordinates are in 128-px canvas units (the 64-px image halves them):
/// top-left corner (`x`, `y`) and side `side`; y grows downwards.
public struct SceneObject: Equatable, Sendable {
    public var pair: ColourShape
    public var x: Double
    public var y: Double
    public var side: Double
    public init(pair: ColourShape, x: Double, y: Double, side: Double) {
        self.pair = pair; self.x = x; self.y = y; self.side = side
    }
    public var centre: (x: Double, y: Double) { (x + side / 2, y + side / 2) }

    /// Distance between two boxes: the larger of the horizontal and vertical gaps
    /// (negative when they overlap). Boxes are `>= 3` px apart when this is `>= 3`.
    public func gap(to o: SceneObject) -> Double {
        let gx = max(o.x - (x + side), x - (o.x + o.side))
        let gy = max(o.y - (y + side), y - (o.y + o.side))
        return max(gx, gy)
    }
}

/// `{number} {colour} {shape}`: `count` objects sharing one colour and one shape.
public struct SceneGroup: Hashable, Sendable {
    public var pair: ColourShape
    public var count: Int
    public init(pair: ColourShape, count: Int) { self.pair = pair; self.count = count }
}

/// The meaning of a caption: one group, or two groups and a relation, and maybe a background.
public struct SceneCaption: Hashable, Sendable {
    public var groups: [SceneGroup]
    public var relation: SceneRelation?
    /// Index into `SceneColours.backgrounds`, when the caption names one.
    public var background: Int?
    public init(groups: [SceneGroup], relation: SceneRelation? = nil, background: Int? = nil) {
        self.groups = groups; self.relation = relation; self.background = background
    }
}

/// A generated scene: background, objects (group A's first) and the caption it was generated for.
public struct Scene: Equatable, Sendable {
    /// Index into `SceneColours.backgrounds`.
    public var background: Int
    public var objects: [SceneObject]
    public var caption: SceneCaption
    public init(background: Int, objects: [SceneObject], caption: SceneCaption) {
        self.background = background; self.objects = objects; self.caption = caption
    }
}

