import Foundation
import MuseCore
import XCTest

/// Resampling, drawing and the seeded generator in MuseCore.
final class ImageOpsCoreTests: XCTestCase {
    func testBoxDownscaleIsExactAreaAverage() {
        // 4x2 -> 2x1: each output pixel is the mean of a 2x2 block.
        var p = [Float]()
        for v in [0, 1, 2, 3, 4, 5, 6, 7] as [Float] { p += [v, v, v] }
        let img = Image(width: 4, height: 2, channels: 3, pixels: p).resized(width: 2, height: 1, filter: .box)
        XCTAssertEqual(img.pixels, [2.5, 2.5, 2.5, 4.5, 4.5, 4.5])
    }

    func testBoxNonIntegerFactorPreservesMean() {
        var rng = SeededRNG(seed: 3)
        let src = Image(width: 10, height: 7, channels: 3, pixels: (0..<210).map { _ in rng.uniform() })
        let dst = src.resized(width: 4, height: 3, filter: .box)
        let mean = { (i: Image) in i.pixels.reduce(0, +) / Float(i.pixels.count) }
        XCTAssertEqual(mean(src), mean(dst), accuracy: 1e-5)
    }

    func testBilinearMatchesHalfPixelReference() {
        // 2x1 -> 4x1 with half-pixel centres: 0, 0.25, 0.75, 1 of the way.
        let img = Image(width: 2, height: 1, channels: 3, pixels: [0, 0, 0, 1, 1, 1]).resized(width: 4, height: 1, filter: .bilinear)
        XCTAssertEqual(img.pixels.enumerated().filter { $0.offset % 3 == 0 }.map(\.element), [0, 0.25, 0.75, 1])
    }

    func testNearestSamplesPixelCentres() {
        // 4x1 -> 2x1 takes pixels 0.5*2 = 1 and 1.5*2 = 3; 2x1 -> 4x1 repeats each.
        let src = Image(width: 4, height: 1, channels: 3, pixels: [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3])
        XCTAssertEqual(src.resized(width: 2, height: 1, filter: .nearest).pixels, [1, 1, 1, 3, 3, 3])
        let two = Image(width: 2, height: 1, channels: 3, pixels: [5, 5, 5, 7, 7, 7])
        XCTAssertEqual(two.resized(width: 4, height: 1, filter: .nearest).pixels, [5, 5, 5, 5, 5, 5, 7, 7, 7, 7, 7, 7])
    }

    func testBilinearTwoAxesMatchesReference() {
        // 3x2 -> 5x4, checked against the separable half-pixel formula written out.
        var rng = SeededRNG(seed: 5)
        let src = Image(width: 3, height: 2, channels: 3, pixels: (0..<18).map { _ in rng.uniform() })
        let out = src.resized(width: 5, height: 4, filter: .bilinear)
        func coord(_ o: Int, _ n: Int, _ m: Int) -> (Int, Int, Float) {
            let x = max(0, (Double(o) + 0.5) * Double(n) / Double(m) - 0.5)
            let i0 = min(Int(x), n - 1)
            return (i0, min(i0 + 1, n - 1), Float(x - Double(i0)))
        }
        for oy in 0..<4 { for ox in 0..<5 { for c in 0..<3 {
            let (x0, x1, fx) = coord(ox, 3, 5), (y0, y1, fy) = coord(oy, 2, 4)
            func p(_ x: Int, _ y: Int) -> Float { src.pixels[src.index(x, y) + c] }
            let top = p(x0, y0) * (1 - fx) + p(x1, y0) * fx, bottom = p(x0, y1) * (1 - fx) + p(x1, y1) * fx
            XCTAssertEqual(out.pixels[out.index(ox, oy) + c], top * (1 - fy) + bottom * fy, accuracy: 1e-6)
        } } }
    }

    func testCropAndPaste() {
        var rng = SeededRNG(seed: 1)
        let src = Image(width: 6, height: 5, channels: 3, pixels: (0..<90).map { _ in rng.uniform() })
        let c = src.cropped(x: 2, y: 1, width: 3, height: 2)
        XCTAssertEqual(Array(c.pixels[0..<3]), Array(src.pixels[src.index(2, 1)..<src.index(2, 1) + 3]))
        var canvas = Image(width: 6, height: 5, fill: [0, 0, 0])
        canvas.paste(c, x: 2, y: 1)
        XCTAssertEqual(canvas.cropped(x: 2, y: 1, width: 3, height: 2), c)
    }

    func testTextDrawsInkAndGridHasLabels() {
        var img = Image(width: 40, height: 12, fill: [1, 1, 1])
        img.drawText("Hi!", x: 1, y: 1)
        let ink = stride(from: 0, to: img.pixels.count, by: 3).filter { img.pixels[$0] == 0 }.count
        XCTAssertGreaterThan(ink, 10)
        XCTAssertEqual(BitmapFont.wrap("a red circle above two blue stars", maxWidth: 60), ["a red", "circle", "above two", "blue stars"])
        let grid = ImageGrid.make(images: [img, img], labels: ["left", "right"], columns: 2, cellSize: 40)
        XCTAssertEqual(grid.width, 6 + 2 * 46)
    }

    func testSeededRNGIsDeterministicAndRestorable() {
        var a = SeededRNG(seed: 99)
        _ = (0..<10).map { _ in a.next() }
        var b = SeededRNG(stateWords: a.stateWords)
        XCTAssertEqual((0..<5).map { _ in a.next() }, (0..<5).map { _ in b.next() })
        var c = SeededRNG(seed: 7)
        let u = (0..<10000).map { _ in c.uniform() }
        XCTAssertTrue(u.allSatisfy { $0 >= 0 && $0 < 1 })
        XCTAssertEqual(u.reduce(0, +) / 10000, 0.5, accuracy: 0.02)
    }
}
