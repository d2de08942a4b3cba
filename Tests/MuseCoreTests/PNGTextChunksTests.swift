import XCTest
import Foundation
@testable import MuseCore

final class PNGTextChunksTests: XCTestCase {
    func testRoundTripKeepsThePixelsAndValidCRCs() throws {
        let img = Image(width: 3, height: 2, pixels: (0..<18).map { Float($0) / 17 })
        let png = try PNGCodec.encode(img)
        let text = #"{"prompt":"three blue stars — ünïcode"}"#
        let tagged = try PNGTextChunks.insert([("muse:run", text), ("Comment", "x")], into: png)
        XCTAssertEqual(try PNGTextChunks.read(tagged), ["muse:run": text, "Comment": "x"])
        XCTAssertEqual(try PNGCodec.decode(tagged), try PNGCodec.decode(png), "pixels unchanged; libpng accepts the chunks")
        XCTAssertEqual(try PNGTextChunks.read(png), [:])
        // Every chunk's CRC is right (CRC-32 of "IEND" is AE426082, from the PNG spec's example files).
        XCTAssertEqual(PNGTextChunks.crc32(Array("IEND".utf8)), 0xAE42_6082)
        for c in try PNGTextChunks.parse(tagged, name: "t") {
            let b = [UInt8](tagged)
            let typed = Array(b[(c.offset + 4)..<(c.offset + 8 + c.length)])
            let stored = b[(c.offset + 8 + c.length)..<(c.offset + 12 + c.length)].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
            XCTAssertEqual(PNGTextChunks.crc32(typed), stored, c.type)
        }
    }

    func testBadInputsAreErrors() throws {
        let png = try PNGCodec.encode(Image(width: 1, height: 1, fill: [1, 0, 0]))
        XCTAssertThrowsError(try PNGTextChunks.insert([("", "x")], into: png))
        XCTAssertThrowsError(try PNGTextChunks.insert([(String(repeating: "k", count: 80), "x")], into: png))
        XCTAssertThrowsError(try PNGTextChunks.read(Data("not a png".utf8))) { XCTAssertTrue("\($0)".contains("not a PNG")) }
        // A chunk whose length runs past the end of the file.
        var cut = try PNGTextChunks.insert([("k", String(repeating: "y", count: 100))], into: png)
        cut = cut.prefix(cut.count - 40)
        XCTAssertThrowsError(try PNGTextChunks.read(cut)) { XCTAssertTrue("\($0)".contains("truncated")) }
    }
}
