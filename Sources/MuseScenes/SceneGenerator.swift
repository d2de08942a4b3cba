import Foundation
import MuseCore

/// Which data a scene is for.
public enum SceneSplit: String, CaseIterable, Codable, Sendable {
    /// Training scenes: the held-out pairs never appear.
    case train
    /// Evaluation scenes/prompts: any pair; half of the scenes contain a held-out pair.
    case eval
}

/// Seeded scene generator (SCENES.md "Scenes and captions").
///
/// Scene `i` of a set with seed `S` and split `p` is drawn from its own
/// `SeededRNG(seed: SeededRNG.derive(S, "scenes/p/i"))`, so it does not depend on
/// how many scenes are generated or in what order. Choices SCENES.md leaves open:
/// - kind: one group or two groups with probability 1/2 each;
/// - one group: n uniform in 1...4; two groups: n uniform in 1...2 each, the two
///   (colour, shape) pairs distinct, relation uniform among the four;
/// - pairs uniform among the allowed ones (train: the 28 pairs that are not held
///   out; eval: all 32, and with probability 1/2 one group, chosen at random, is
///   forced to a held-out pair drawn uniformly);
/// - background uniform among the four; the caption names it with probability 1/2;
/// - side s uniform in [18, 34] px, positions uniform where the box fits 3 px inside
///   the edge; both quantised to 1/16 px (exact in binary, so the metadata written
///   as decimals describes the rendered box exactly);
/// - placement: objects are placed one by one by rejection sampling (each box >= 3 px
///   from every placed box, and for two groups the relation must hold with a 12 px
///   margin against every placed object of the other group); an object that fails
///   `maxTries` times restarts the whole placement.
public struct SceneGenerator: Sendable {
    public var split: SceneSplit
    public var seed: UInt64
    /// Relation margin used at generation (px at 128).
    public static let relationMargin = 12.0
    /// Minimum gap between boxes and between a box and the canvas edge (px at 128).
    public static let gap = 3.0
    public static let minSide = 18.0, maxSide = 34.0
    public var maxTries = 200

    public init(seed: UInt64, split: SceneSplit) { self.seed = seed; self.split = split }

    /// The pairs a group may take in this split.
    public var allowedPairs: [ColourShape] {
        split == .train ? ColourShape.all.filter { !$0.isHeldOut } : ColourShape.all
    }

    /// Scene number `index`.
    public func scene(_ index: Int) -> Scene {
        var rng = SeededRNG(seed: SeededRNG.derive(seed, "scenes/\(split.rawValue)/\(index)"))
        let caption = drawCaption(&rng)
        let background = caption.background ?? rng.int(SceneColours.backgrounds.count)
        let objects = place(caption, &rng)
        return Scene(background: background, objects: objects, caption: caption)
    }

    /// Draws the caption: groups, counts, relation, background.
    func drawCaption(_ rng: inout SeededRNG) -> SceneCaption {
        let pairs = allowedPairs
        let twoGroups = rng.int(2) == 1
        var groups: [SceneGroup]
        var relation: SceneRelation? = nil
        if !twoGroups {
            groups = [SceneGroup(pair: pairs[rng.int(pairs.count)], count: 1 + rng.int(4))]
        } else {
            let a = pairs[rng.int(pairs.count)]
            var b = pairs[rng.int(pairs.count)]
            while b == a { b = pairs[rng.int(pairs.count)] }
            groups = [SceneGroup(pair: a, count: 1 + rng.int(2)), SceneGroup(pair: b, count: 1 + rng.int(2))]
            relation = SceneRelation.allCases[rng.int(4)]
        }
        if split == .eval && rng.int(2) == 1 {
            let k = rng.int(groups.count)
            var h = ColourShape.heldOut[rng.int(ColourShape.heldOut.count)]
            if groups.count == 2 { while h == groups[1 - k].pair { h = ColourShape.heldOut[rng.int(ColourShape.heldOut.count)] } }
            groups[k].pair = h
        }
        let bg = rng.int(SceneColours.backgrounds.count)
        let named = rng.int(2) == 1
        return SceneCaption(groups: groups, relation: relation, background: named ? bg : nil)
    }

    @inline(__always) static func q16(_ v: Double) -> Double { (v * 16).rounded(.down) / 16 }

    /// Places the caption's objects (group A's first, then group B's).
    func place(_ caption: SceneCaption, _ rng: inout SeededRNG) -> [SceneObject] {
        let canvas = Double(SceneRenderer.canvas)
        var wanted: [(pair: ColourShape, group: Int)] = []
        for (gi, g) in caption.groups.enumerated() { for _ in 0..<g.count { wanted.append((g.pair, gi)) } }
        while true {
            var placed: [(SceneObject, Int)] = []
            var ok = true
            for w in wanted {
                var found: SceneObject? = nil
                for _ in 0..<maxTries {
                    let s = SceneGenerator.q16(SceneGenerator.minSide + (SceneGenerator.maxSide - SceneGenerator.minSide) * rng.uniformDouble())
                    let span = canvas - 2 * SceneGenerator.gap - s
                    let x = SceneGenerator.q16(SceneGenerator.gap + span * rng.uniformDouble())
                    let y = SceneGenerator.q16(SceneGenerator.gap + span * rng.uniformDouble())
                    let o = SceneObject(pair: w.pair, x: x, y: y, side: s)
                    if placed.contains(where: { $0.0.gap(to: o) < SceneGenerator.gap }) { continue }
                    if let r = caption.relation {
                        let bad = placed.contains { p in
                            guard p.1 != w.group else { return false }
                            return w.group == 0 ? !r.holds(o.centre, p.0.centre, margin: SceneGenerator.relationMargin)
                                                : !r.holds(p.0.centre, o.centre, margin: SceneGenerator.relationMargin)
                        }
                        if bad { continue }
                    }
                    found = o
                    break
                }
                guard let o = found else { ok = false; break }
                placed.append((o, w.group))
            }
            if ok { return placed.map { $0.0 } }
        }
    }

    /// Checks a scene against every generation rule (sizes, gaps, edge margin, counts,
    /// relation with the 12 px margin, held-out pairs in training). Returns the problems.
    public static func violations(_ scene: Scene, split: SceneSplit) -> [String] {
        var out: [String] = []
        let canvas = Double(SceneRenderer.canvas)
        for (i, o) in scene.objects.enumerated() {
            if o.side < minSide || o.side > maxSide { out.append("object \(i): side \(o.side) outside [18, 34]") }
            if o.x < gap || o.y < gap || o.x + o.side > canvas - gap || o.y + o.side > canvas - gap {
                out.append("object \(i): box less than 3 px inside the edge")
            }
            for j in 0..<i where scene.objects[j].gap(to: o) < gap { out.append("objects \(j), \(i): boxes closer than 3 px") }
            if split == .train && o.pair.isHeldOut { out.append("object \(i): held-out pair \(o.pair) in training") }
        }
        let c = scene.caption
        if c.groups.reduce(0, { $0 + $1.count }) != scene.objects.count { out.append("object count does not match caption") }
        for g in c.groups where scene.objects.filter({ $0.pair == g.pair }).count != g.count {
            out.append("group \(SceneCaption.text(of: g)): wrong count")
        }
        if let r = c.relation, c.groups.count == 2 {
            for a in scene.objects where a.pair == c.groups[0].pair {
                for b in scene.objects where b.pair == c.groups[1].pair && !r.holds(a.centre, b.centre, margin: relationMargin) {
                    out.append("relation '\(r.rawValue)' does not hold with the 12 px margin")
                }
            }
        }
        if let b = c.background, b != scene.background { out.append("background differs from caption") }
        return out
    }
}
