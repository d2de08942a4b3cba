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
