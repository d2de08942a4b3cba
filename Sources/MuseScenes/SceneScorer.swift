import Foundation
import MuseCore

/// An object the scorer found in an image. Box in 128-px canvas units, like `SceneObject`.
public struct DetectedObject: Sendable {
    public var pair: ColourShape
    public var x: Double, y: Double, side: Double
    /// Covered area in pixels of the scored image (anti-aliased pixels count fractionally).
    public var area: Double
    /// Mean absolute difference per covered pixel between the object's coverage and the
    /// best shape template (0 = perfect fit); large values flag a poorly drawn shape.
    public var fitError: Double
    public var centre: (x: Double, y: Double) { (x + side / 2, y + side / 2) }
    public var object: SceneObject { SceneObject(pair: pair, x: x, y: y, side: side) }
}

/// What the scorer reads out of an image.
public struct ParsedScene: Sendable {
    /// Index into `SceneColours.backgrounds` (the nearest to the image's border colour).
    public var background: Int
    public var objects: [DetectedObject]
}

/// The verdict on one (image, caption) pair.
public struct SceneScore: Sendable {
    /// Exactly the caption's groups (right count of each colour-shape group, no other
    /// object) and, for two groups, the relation holds with centres strictly ordered.
    public var exact: Bool
    /// The set of object colours equals the caption's.
    public var colour: Bool
    /// The set of object shapes equals the caption's.
    public var shape: Bool
    /// Every caption group has exactly its count of objects with its colour and shape.
    public var count: Bool
    /// Two-group captions only: both groups present and every A stands in the relation to every B.
    public var relation: Bool?
    /// Captions that name a background only: the image's background is that one.
    public var background: Bool?
}

/// Parses a scene image (128 or 64 px, or any square size: lengths scale with it)
/// back into objects, and checks it against a caption (SCENES.md "Scoring").
///
/// Method:
/// 1. Background: the per-channel median of the outermost pixel ring (boxes stay
///    3 px inside the edge), snapped to the nearest of the four background colours.
/// 2. Per pixel, for each object colour c, the mix `p = bg + a (c - bg)` that best
///    explains it (least squares a in [0, 1], residual distance); the colour with the
///    smallest residual wins. A pixel differing from the background by more than
///    `backgroundTolerance` is foreground; one with a >= 0.5 is a core pixel.
/// 3. Objects are the 8-connected components of core pixels. Boxes are >= 3 px apart
///    (1.5 px at 64), so core pixels of two objects are never neighbours (a pixel is
///    at least half covered only if it reaches 0.5 px into the box). Components whose
///    area is below `minAreaFraction` of the smallest possible object are noise.
/// 4. Each component's colour is the coverage-weighted vote of its core pixels. Every
///    other foreground pixel (anti-aliased rim, star tips) joins the nearest component
///    (breadth-first through foreground pixels); its coverage a is recomputed against
///    that component's colour.
/// 5. Shape and box: from the coverage sum A and its centroid (mx, my), each shape
///    hypothesis gives its side `s = sqrt(A / areaFraction)` and box centre
///    (mx, my - centroidOffset * s) (a triangle's centroid lies s/6 below its box
///    centre; a star's is its centre). Each hypothesis is rendered as a coverage
///    template (supersampled like the renderer) and compared with the component's
///    coverage map (sum of absolute differences); the best-fitting shape wins and
///    gives the box.
public struct SceneScorer: Sendable {
    /// A pixel is foreground when one channel differs from the background by more than this (0...1).
    public var backgroundTolerance: Float = 3.0 / 255
    /// Components with less coverage than this fraction of the smallest object (a star of side 18) are ignored.
    public var minAreaFraction = 0.3
    /// Template supersampling per axis: this many samples per canvas (128-px) pixel, so
    /// 4 per axis at 128 px and 8 at 64 px (what a 64-px image averaged from a 4x render holds).
    public var templateSamplesPerCanvasPixel = 4

    public init() {}

    /// Reads the objects and the background out of `image` (RGB or RGBA; alpha is composited on white).
    public func parse(_ image: Image) -> ParsedScene {
        let img = image.rgb()
        let w = img.width, h = img.height
        let scale = Double(w) / Double(SceneRenderer.canvas)   // image px per canvas px
        // 1. Background.
        var ring: [[Float]] = [[], [], []]
        for x in 0..<w { for y in [0, h - 1] { let i = img.index(x, y); for c in 0..<3 { ring[c].append(img.pixels[i + c]) } } }
        for y in 1..<max(1, h - 1) { for x in [0, w - 1] { let i = img.index(x, y); for c in 0..<3 { ring[c].append(img.pixels[i + c]) } } }
        let med = ring.map { v -> Float in let s = v.sorted(); return s[s.count / 2] }
        let bgIndex = SceneColours.backgrounds.indices.min { a, b in
            dist2(SceneColours.backgrounds[a].float, med) < dist2(SceneColours.backgrounds[b].float, med)
        }!
        let bg = SceneColours.backgrounds[bgIndex].float
        let palette = SceneColours.objects.map { $0.float }
        let dirs = palette.map { c in SIMD3<Float>(c[0] - bg[0], c[1] - bg[1], c[2] - bg[2]) }
        let samples = max(1, Int((Double(templateSamplesPerCanvasPixel) / scale).rounded()))

        // 2. Per-pixel best colour and coverage.
        let n = w * h
        var fg = [Bool](repeating: false, count: n)
        var core = [Bool](repeating: false, count: n)
        var bestColour = [Int](repeating: -1, count: n)
        var bestAlpha = [Float](repeating: 0, count: n)
        for p in 0..<n {
            let i = p * 3
            let d = SIMD3<Float>(img.pixels[i] - bg[0], img.pixels[i + 1] - bg[1], img.pixels[i + 2] - bg[2])
            if max(abs(d.x), abs(d.y), abs(d.z)) <= backgroundTolerance { continue }
            fg[p] = true
            var best = -1; var bestR = Float.infinity; var bestA: Float = 0
            for (k, v) in dirs.enumerated() {
                let a = SceneScorer.mix(d, v)
                let e = d - a * v
                let r = (e * e).sum()
                if r < bestR { bestR = r; best = k; bestA = a }
            }
            bestColour[p] = best; bestAlpha[p] = bestA
            core[p] = bestA >= 0.5
        }

        // 3. Components of core pixels (8-connected).
        var label = [Int](repeating: -1, count: n)
        var components: [[Int]] = []
        for start in 0..<n where core[start] && label[start] < 0 {
            let id = components.count
            var members = [start]; label[start] = id
            var head = 0
            while head < members.count {
                let p = members[head]; head += 1
                let px = p % w, py = p / w
                for dy in -1...1 { for dx in -1...1 where dx != 0 || dy != 0 {
                    let qx = px + dx, qy = py + dy
                    guard qx >= 0, qy >= 0, qx < w, qy < h else { continue }
                    let q = qy * w + qx
                    if core[q] && label[q] < 0 { label[q] = id; members.append(q) }
                } }
            }
            components.append(members)
        }
        // 4. Component colours, then the rim joins the nearest component.
        let compColour: [Int] = components.map { members in
            var votes = [Float](repeating: 0, count: palette.count)
            for p in members { votes[bestColour[p]] += bestAlpha[p] }
            return votes.indices.max { votes[$0] < votes[$1] }!
        }
        var queue: [Int] = components.flatMap { $0 }
        var head = 0
        while head < queue.count {
            let p = queue[head]; head += 1
            let px = p % w, py = p / w
            for dy in -1...1 { for dx in -1...1 where dx != 0 || dy != 0 {
                let qx = px + dx, qy = py + dy
                guard qx >= 0, qy >= 0, qx < w, qy < h else { continue }
                let q = qy * w + qx
                if fg[q] && label[q] < 0 { label[q] = label[p]; queue.append(q) }
            } }
        }
        var pixelsOf = [[Int]](repeating: [], count: components.count)
        for p in 0..<n where label[p] >= 0 { pixelsOf[label[p]].append(p) }

        // 5. Shape and box per component.
        let minArea = minAreaFraction * ShapeGeometry.areaFraction(.star) * pow(SceneGenerator.minSide * scale, 2)
        var objects: [DetectedObject] = []
        for (id, pix) in pixelsOf.enumerated() {
            let v = dirs[compColour[id]]
            var alpha = [Float](repeating: 0, count: n)
            var area = 0.0, sx = 0.0, sy = 0.0
            var minX = w, maxX = 0, minY = h, maxY = 0
            for p in pix {
                let i = p * 3
                let d = SIMD3<Float>(img.pixels[i] - bg[0], img.pixels[i + 1] - bg[1], img.pixels[i + 2] - bg[2])
                let a = SceneScorer.mix(d, v)
                alpha[p] = a
                let px = p % w, py = p / w
                area += Double(a); sx += Double(a) * (Double(px) + 0.5); sy += Double(a) * (Double(py) + 0.5)
                minX = min(minX, px); maxX = max(maxX, px); minY = min(minY, py); maxY = max(maxY, py)
            }
            guard area >= minArea else { continue }
            let mx = sx / area, my = sy / area
            var best: (shape: SceneShape, err: Double, x: Double, y: Double, s: Double)? = nil
            for shape in SceneShape.allCases {
                let s = (area / ShapeGeometry.areaFraction(shape)).squareRoot()
                let cx = mx, cy = my - ShapeGeometry.centroidOffset(shape) * s
                let g = ShapeGeometry(shape: shape, x: cx - s / 2, y: cy - s / 2, side: s)
                let x0 = max(0, min(minX, Int((cx - s / 2).rounded(.down))) - 1)
                let x1 = min(w - 1, max(maxX, Int((cx + s / 2).rounded(.down))) + 1)
                let y0 = max(0, min(minY, Int((cy - s / 2).rounded(.down))) - 1)
                let y1 = min(h - 1, max(maxY, Int((cy + s / 2).rounded(.down))) + 1)
                var err = 0.0
                for py in y0...y1 {
                    for px in x0...x1 {
                        let t = g.coverage(px: px, py: py, samples: samples)
                        let o = alpha[py * w + px]
                        err += Double(abs(t - o))
                    }
                }
                if best == nil || err < best!.err { best = (shape, err, cx - s / 2, cy - s / 2, s) }
            }
            let b = best!
            objects.append(DetectedObject(pair: ColourShape(colour: compColour[id], shape: b.shape),
                                          x: b.x / scale, y: b.y / scale, side: b.s / scale,
                                          area: area, fitError: b.err / area))
        }
        objects.sort { ($0.y, $0.x) < ($1.y, $1.x) }
        return ParsedScene(background: bgIndex, objects: objects)
    }

    /// Least-squares mix a in [0, 1] with d ~ a v.
    @inline(__always) static func mix(_ d: SIMD3<Float>, _ v: SIMD3<Float>) -> Float {
        let vv = (v * v).sum()
        guard vv > 0 else { return 0 }
        return max(0, min(1, (d * v).sum() / vv))
    }

    @inline(__always) func dist2(_ a: [Float], _ b: [Float]) -> Float {
        (0..<3).reduce(Float(0)) { s, c in s + (a[c] - b[c]) * (a[c] - b[c]) }
    }

    /// Checks a parsed scene against a caption.
    public static func score(_ parsed: ParsedScene, against caption: SceneCaption) -> SceneScore {
        var counts: [ColourShape: Int] = [:]
        for o in parsed.objects { counts[o.pair, default: 0] += 1 }
        var wanted: [ColourShape: Int] = [:]
        for g in caption.groups { wanted[g.pair, default: 0] += g.count }
        let colourOK = Set(parsed.objects.map { $0.pair.colour }) == Set(caption.groups.map { $0.pair.colour })
        let shapeOK = Set(parsed.objects.map { $0.pair.shape }) == Set(caption.groups.map { $0.pair.shape })
        let countOK = caption.groups.allSatisfy { counts[$0.pair, default: 0] == $0.count }
        var relationOK: Bool? = nil
        if caption.groups.count == 2, let r = caption.relation {
            let a = parsed.objects.filter { $0.pair == caption.groups[0].pair }
            let b = parsed.objects.filter { $0.pair == caption.groups[1].pair }
            relationOK = !a.isEmpty && !b.isEmpty && a.allSatisfy { oa in b.allSatisfy { ob in r.holds(oa.centre, ob.centre, margin: 0) } }
        }
        let exact = counts == wanted && (relationOK ?? true)
        let bgOK = caption.background.map { $0 == parsed.background }
        return SceneScore(exact: exact, colour: colourOK, shape: shapeOK, count: countOK, relation: relationOK, background: bgOK)
    }

    /// Parses `image` and checks it against `caption`.
    public func score(_ image: Image, caption: SceneCaption) -> SceneScore {
        SceneScorer.score(parse(image), against: caption)
    }
}

/// Running totals of scores over a prompt set.
public struct ScoreTally: Sendable, CustomStringConvertible {
    public var total = 0, exact = 0, colour = 0, shape = 0, count = 0
    public var relationTotal = 0, relation = 0
    public var backgroundTotal = 0, background = 0
    public init() {}

    public mutating func add(_ s: SceneScore) {
        total += 1
        if s.exact { exact += 1 }
        if s.colour { colour += 1 }
        if s.shape { shape += 1 }
        if s.count { count += 1 }
        if let r = s.relation { relationTotal += 1; if r { relation += 1 } }
        if let b = s.background { backgroundTotal += 1; if b { background += 1 } }
    }

    public static func rate(_ k: Int, _ n: Int) -> Double { n == 0 ? .nan : Double(k) / Double(n) }
    public var exactRate: Double { ScoreTally.rate(exact, total) }

    public var description: String {
        func f(_ k: Int, _ n: Int) -> String { n == 0 ? "n/a" : String(format: "%.2f%% (%d/%d)", 100 * Double(k) / Double(n), k, n) }
        return """
        exact match : \(f(exact, total))
        colour      : \(f(colour, total))
        shape       : \(f(shape, total))
        count       : \(f(count, total))
        relation    : \(f(relation, relationTotal))  (two-group captions)
        background  : \(f(background, backgroundTotal))  (captions naming one)
        """
    }
}
