import XCTest
import Foundation
import MuseCore
@testable import MuseScenes

final class SceneGeometryTests: XCTestCase {
    /// Fraction of a fine grid inside the shape matches the analytic area.
    func testAreasAndShapes() {
        for shape in SceneShape.allCases {
            let g = ShapeGeometry(shape: shape, x: 0, y: 0, side: 1)
            let n = 600
            var hit = 0
            for j in 0..<n { for i in 0..<n where g.contains((Double(i) + 0.5) / Double(n), (Double(j) + 0.5) / Double(n)) { hit += 1 } }
            XCTAssertEqual(Double(hit) / Double(n * n), ShapeGeometry.areaFraction(shape), accuracy: 0.005, "\(shape)")
        }
        // Star: five points, the first straight up, inner radius 0.45 x outer.
        let star = ShapeGeometry(shape: .star, x: 10, y: 10, side: 20)
        XCTAssertEqual(star.starVertices[0].0, 20, accuracy: 1e-9); XCTAssertEqual(star.starVertices[0].1, 10, accuracy: 1e-9)
        XCTAssertEqual(hypot(star.starVertices[1].0 - 20, star.starVertices[1].1 - 20), 4.5, accuracy: 1e-9)
        XCTAssertEqual(ShapeGeometry.areaFraction(.star), 10 * 0.5 * 0.5 * 0.225 * sin(Double.pi / 5), accuracy: 1e-12)
        // Triangle: apex at top centre, base along the bottom edge.
        let tri = ShapeGeometry(shape: .triangle, x: 0, y: 0, side: 10)
        XCTAssertTrue(tri.contains(5, 0.01)); XCTAssertFalse(tri.contains(4, 0.5))
        XCTAssertTrue(tri.contains(0.1, 9.99)); XCTAssertTrue(tri.contains(9.9, 9.99)); XCTAssertFalse(tri.contains(5, 10.01))
        // Circle: disc of diameter s.
        let c = ShapeGeometry(shape: .circle, x: 0, y: 0, side: 10)
        XCTAssertTrue(c.contains(5, 0.05)); XCTAssertFalse(c.contains(0.5, 0.5))
    }

    func testRenderer() {
        let scene = Scene(background: 2, objects: [
            SceneObject(pair: ColourShape(colour: 0, shape: .square), x: 10, y: 20, side: 20),
            SceneObject(pair: ColourShape(colour: 4, shape: .circle), x: 60.5, y: 60.25, side: 30),
        ], caption: SceneCaption(groups: [SceneGroup(pair: ColourShape(colour: 0, shape: .square), count: 1)]))
        let r = SceneRenderer()
        let img = r.render128(scene)
        func px(_ im: Image, _ x: Int, _ y: Int) -> [Int] { (0..<3).map { Int((im.pixels[im.index(x, y) + $0] * 255).rounded()) } }
        XCTAssertEqual(img.width, 128)
        XCTAssertEqual(px(img, 0, 0), [245, 235, 205])          // cream background
        XCTAssertEqual(px(img, 15, 25), [220, 40, 40])          // inside the red square
        XCTAssertEqual(px(img, 9, 25), [245, 235, 205])         // just left of it
        XCTAssertEqual(px(img, 75, 75), [40, 90, 220])          // blue disc centre
        // Anti-aliased rim of the disc (top row of its box, centre column): mixed colour.
        let rim = px(img, 75, 60)
        XCTAssertTrue(rim != [40, 90, 220] && rim != [245, 235, 205], "\(rim)")
        // 64 px = 2x2 average of the 8-bit 128 render.
        let small = SceneRenderer.downsample64(img)
        XCTAssertEqual(small.width, 64)
        for (x, y) in [(37, 30), (5, 10), (0, 0), (31, 31)] {
            for c in 0..<3 {
                let avg = (img.pixels[img.index(2 * x, 2 * y) + c] + img.pixels[img.index(2 * x + 1, 2 * y) + c]
                         + img.pixels[img.index(2 * x, 2 * y + 1) + c] + img.pixels[img.index(2 * x + 1, 2 * y + 1) + c]) / 4
                XCTAssertEqual(small.pixels[small.index(x, y) + c], (avg * 255).rounded() / 255, accuracy: 1e-6)
            }
        }
    }
}

final class SceneCaptionTests: XCTestCase {
    func g(_ c: String, _ s: SceneShape, _ n: Int) -> SceneGroup { SceneGroup(pair: ColourShape(colour: SceneColours.objectIndex(c)!, shape: s), count: n) }

    func testGrammar() {
        XCTAssertEqual(SceneCaption(groups: [g("orange", .star, 1)]).text, "an orange star")
        XCTAssertEqual(SceneCaption(groups: [g("blue", .star, 3)]).text, "three blue stars")
        XCTAssertEqual(SceneCaption(groups: [g("red", .circle, 1)]).text, "a red circle")
        XCTAssertEqual(SceneCaption(groups: [g("pink", .square, 4)], background: 3).text, "four pink squares on a light blue background")
        let two = SceneCaption(groups: [g("yellow", .triangle, 2), g("brown", .circle, 1)], relation: .leftOf, background: 1)
        XCTAssertEqual(two.text, "two yellow triangles to the left of a brown circle on a gray background")
        XCTAssertEqual(two.variants, [
            "two yellow triangles to the left of a brown circle on a gray background",
            "a brown circle to the right of two yellow triangles on a gray background",
            "two yellow triangles to the left of a brown circle",
            "a brown circle to the right of two yellow triangles",
        ])
        XCTAssertEqual(SceneCaption(groups: [g("green", .square, 2), g("green", .star, 2)], relation: .below).text,
                       "two green squares below two green stars")
    }

    func testParseRoundTripAndErrors() throws {
        let gen = SceneGenerator(seed: 5, split: .eval)
        for i in 0..<300 {
            let c = gen.scene(i).caption
            XCTAssertEqual(try SceneCaption(parsing: c.text), c)
            for v in c.variants { XCTAssertEqual(try SceneCaption(parsing: v).text, v) }
        }
        for bad in ["a orange star", "an red star", "two blue star", "a blue stars", "three violet circles",
                    "a red circle beside a blue square", "a red circle above a red circle", "a red circle on a black background",
                    "a red circle above", "", "a red  circle", "five red circles"] {
            XCTAssertThrowsError(try SceneCaption(parsing: bad), bad)
        }
    }
}

final class SceneGeneratorTests: XCTestCase {
    func testRulesHoldAndHeldOutPairs() {
        var sawHeldOutInEval = false, kinds = Set<Int>(), relations = Set<SceneRelation>(), named = 0
        for split in SceneSplit.allCases {
            let gen = SceneGenerator(seed: 11, split: split)
            for i in 0..<400 {
                let s = gen.scene(i)
                XCTAssertEqual(SceneGenerator.violations(s, split: split), [], "\(split) scene \(i)")
                if split == .train {
                    XCTAssertFalse(s.caption.groups.contains { $0.pair.isHeldOut }, "held-out pair in a training caption")
                } else if s.caption.groups.contains(where: { $0.pair.isHeldOut }) { sawHeldOutInEval = true }
                kinds.insert(s.caption.groups.count)
                if let r = s.caption.relation { relations.insert(r) }
                if s.caption.background != nil { named += 1 }
                for o in s.objects { XCTAssertTrue((18...34).contains(o.side)) }
            }
        }
        XCTAssertTrue(sawHeldOutInEval)
        XCTAssertEqual(kinds, [1, 2]); XCTAssertEqual(relations.count, 4)
        XCTAssertTrue((250...550).contains(named))
        // Deterministic: scene i depends on (seed, split, i) only.
        XCTAssertEqual(SceneGenerator(seed: 3, split: .train).scene(17), SceneGenerator(seed: 3, split: .train).scene(17))
        XCTAssertNotEqual(SceneGenerator(seed: 3, split: .train).scene(17), SceneGenerator(seed: 4, split: .train).scene(17))
    }

    func testDatasetOnDisk() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("muse-scenes-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let gen = SceneGenerator(seed: 9, split: .eval)
        try SceneDataset.write(to: dir, count: 6, generator: gen)
        let records = try SceneDataset.readJSONLines(dir.appendingPathComponent("manifest.jsonl"))
        XCTAssertEqual(records.count, 6)
        for (i, r) in records.enumerated() {
            XCTAssertEqual(try SceneDataset.scene(from: r, source: "test"), gen.scene(i), "metadata round-trips exactly")
            let img = try PNGCodec.read(dir.appendingPathComponent("64/\(SceneDataset.fileName(i))"))
            XCTAssertEqual(img.width, 64)
        }
        XCTAssertEqual(try String(contentsOf: dir.appendingPathComponent("prompts.txt"), encoding: .utf8).split(separator: "\n").count, 6)
    }
}

final class SceneScorerTests: XCTestCase {
    /// The CI-sized version of `muse-data check-scorer` (2,000 scenes per size in the closing note).
    func checkGroundTruth(size: Int, count: Int) {
        let gen = SceneGenerator(seed: 424242, split: .eval)
        let renderer = SceneRenderer(), scorer = SceneScorer()
        var tally = ScoreTally()
        var bg = 0
        for i in 0..<count {
            let scene = gen.scene(i)
            let parsed = scorer.parse(renderer.render(scene, size: size))
            tally.add(SceneScorer.score(parsed, against: scene.caption))
            if parsed.background == scene.background { bg += 1 }
        }
        XCTAssertGreaterThanOrEqual(tally.exactRate, 0.99, "\(size) px:\n\(tally)")
        XCTAssertEqual(bg, count)
    }
    func testGroundTruth128() { checkGroundTruth(size: 128, count: 150) }
    func testGroundTruth64() { checkGroundTruth(size: 64, count: 150) }

    /// Wrong captions (colour, shape, count, relation swapped) fail, on the attribute that was changed.
    func testRejectsWrongCaptions() throws {
        let gen = SceneGenerator(seed: 77, split: .train)
        let renderer = SceneRenderer(), scorer = SceneScorer()
        var checked = (colour: 0, shape: 0, count: 0, relation: 0)
        for i in 0..<40 {
            let scene = gen.scene(i)
            for size in [128, 64] {
                let parsed = scorer.parse(renderer.render(scene, size: size))
                let right = SceneScorer.score(parsed, against: scene.caption)
                XCTAssertTrue(right.exact, "scene \(i) at \(size): \(scene.caption.text)")
                let used = Set(scene.caption.groups.map { $0.pair })
                // Colour swap.
                var c = scene.caption
                c.groups[0].pair.colour = (c.groups[0].pair.colour + 1 + i % 7) % 8
                if !used.contains(c.groups[0].pair) && (c.groups.count == 1 || c.groups[0].pair != c.groups[1].pair) {
                    let s = SceneScorer.score(parsed, against: c)
                    XCTAssertFalse(s.exact, c.text); XCTAssertFalse(s.count, c.text); checked.colour += 1
                }
                // Shape swap.
                var sh = scene.caption
                sh.groups[0].pair.shape = SceneShape.allCases[(SceneShape.allCases.firstIndex(of: sh.groups[0].pair.shape)! + 1 + i % 3) % 4]
                if !used.contains(sh.groups[0].pair) {
                    let s = SceneScorer.score(parsed, against: sh)
                    XCTAssertFalse(s.exact, sh.text); XCTAssertFalse(s.count, sh.text); checked.shape += 1
                }
                // Count change.
                var n = scene.caption
                n.groups[0].count = n.groups[0].count % (n.groups.count == 1 ? 4 : 2) + 1
                let sn = SceneScorer.score(parsed, against: n)
                XCTAssertFalse(sn.exact, n.text); XCTAssertFalse(sn.count, n.text); checked.count += 1
                // Relation: the opposite one, and the one on the other axis stated the wrong way... the opposite always fails.
                if let r = scene.caption.relation {
                    var rr = scene.caption
                    rr.relation = r.inverse
                    let s = SceneScorer.score(parsed, against: rr)
                    XCTAssertFalse(s.exact, rr.text); XCTAssertEqual(s.relation, false, rr.text); XCTAssertTrue(s.count)
                    // Swapping the groups without changing the relation fails too.
                    var sw = scene.caption
                    sw.groups.swapAt(0, 1)
                    XCTAssertFalse(SceneScorer.score(parsed, against: sw).exact, sw.text)
                    checked.relation += 1
                }
                // Background: a different named background fails background accuracy but not the exact match.
                var b = scene.caption
                b.background = (scene.background + 1) % 4
                let sb = SceneScorer.score(parsed, against: b)
                XCTAssertEqual(sb.background, false); XCTAssertTrue(sb.exact)
            }
        }
        XCTAssertGreaterThan(checked.colour, 30); XCTAssertGreaterThan(checked.shape, 30)
        XCTAssertGreaterThan(checked.relation, 12); XCTAssertEqual(checked.count, 80)
    }

    /// An extra object, or a missing one, breaks the exact match.
    func testExtraAndMissingObjects() {
        let cap = SceneCaption(groups: [SceneGroup(pair: ColourShape(colour: 4, shape: .star), count: 1)])
        var scene = Scene(background: 0, objects: [SceneObject(pair: ColourShape(colour: 4, shape: .star), x: 20, y: 20, side: 30)], caption: cap)
        let scorer = SceneScorer()
        XCTAssertTrue(scorer.score(SceneRenderer().render(scene, size: 128), caption: cap).exact)
        scene.objects.append(SceneObject(pair: ColourShape(colour: 0, shape: .circle), x: 80, y: 80, side: 20))
        let s = scorer.score(SceneRenderer().render(scene, size: 64), caption: cap)
        XCTAssertFalse(s.exact); XCTAssertFalse(s.colour); XCTAssertTrue(s.count)
        let empty = Image(width: 128, height: 128, fill: [250.0 / 255, 250.0 / 255, 250.0 / 255])
        XCTAssertFalse(scorer.score(empty, caption: cap).exact)
    }

    /// Boxes exactly 3 px apart (the closest the rules allow) stay two objects at 64 px.
    func testTouchingBoxes() {
        let a = SceneObject(pair: ColourShape(colour: 0, shape: .square), x: 20.25, y: 40, side: 30)
        let b = SceneObject(pair: ColourShape(colour: 0, shape: .square), x: 53.25, y: 40, side: 30)
        let cap = SceneCaption(groups: [SceneGroup(pair: a.pair, count: 2)])
        let scene = Scene(background: 1, objects: [a, b], caption: cap)
        for size in [128, 64] {
            let p = SceneScorer().parse(SceneRenderer().render(scene, size: size))
            XCTAssertEqual(p.objects.count, 2, "\(size) px")
        }
    }
}
