import Foundation
import MuseCore
import XCTest

/// PNG round trips of every colour type and bit depth, and corrupt files.
final class PNGCodecTests: XCTestCase {
    let w = 7, h = 5

    func roundTrip(_ samples: [UInt8], _ format: PNGCodec.RawFormat) throws -> Image {
        try PNGCodec.decode(try PNGCodec.encodeRaw(samples, width: w, height: h, format: format))
    }

    func testRGB8() throws {
        let s = (0..<(w * h * 3)).map { UInt8(($0 * 37) % 256) }
        let img = try roundTrip(s, .rgb8)
        XCTAssertEqual(img.channels, 3)
        XCTAssertEqual(img.pixels.map { UInt8(($0 * 255).rounded()) }, s)
    }

    func testRGBA8() throws {
        let s = (0..<(w * h * 4)).map { UInt8(($0 * 53 + 7) % 256) }
        let img = try roundTrip(s, .rgba8)
        XCTAssertEqual(img.channels, 4)
        XCTAssertEqual(img.pixels.map { UInt8(($0 * 255).rounded()) }, s)
    }

    func testGray8BecomesRGB() throws {
        let s = (0..<(w * h)).map { UInt8(($0 * 11) % 256) }
        let img = try roundTrip(s, .gray8)
        XCTAssertEqual(img.channels, 3)
        for i in 0..<(w * h) { for c in 0..<3 { XCTAssertEqual(UInt8((img.pixels[i * 3 + c] * 255).rounded()), s[i]) } }
    }

    func testGrayAlpha8BecomesRGBA() throws {
        var s = [UInt8]()
        for i in 0..<(w * h) { s += [UInt8((i * 9) % 256), 255] }   // opaque: colour values survive exactly
        let img = try roundTrip(s, .grayAlpha8)
        XCTAssertEqual(img.channels, 4)
        for i in 0..<(w * h) {
            XCTAssertEqual(UInt8((img.pixels[i * 4] * 255).rounded()), s[i * 2])
            XCTAssertEqual(img.pixels[i * 4 + 3], 1)
        }
    }

    func testPalette() throws {
        let palette: [UInt8] = [255, 0, 0, 0, 128, 0, 10, 20, 30, 250, 250, 250]
        let idx = (0..<(w * h)).map { UInt8($0 % 4) }
        let data = try PNGCodec.encodeRaw(idx, width: w, height: h, format: .palette8(palette: palette))
        XCTAssertEqual(data[25], 3, "colour type byte of IHDR should be 3 (palette)")
        let img = try PNGCodec.decode(data)
        XCTAssertEqual(img.channels, 3)
        for i in 0..<(w * h) {
            let k = Int(idx[i])
            for c in 0..<3 { XCTAssertEqual(UInt8((img.pixels[i * 3 + c] * 255).rounded()), palette[k * 3 + c]) }
        }
    }

    func testSixteenBitBecomesEightBit() throws {
        // 16-bit linear samples; the reader gives 8-bit gamma-encoded values
        // (libpng's simplified API encodes with gamma 1/2.2 as its sRGB).
        let linear: [UInt16] = (0..<(w * h * 3)).map { UInt16(($0 * 1999) % 65536) }
        let bytes = linear.withUnsafeBufferPointer { Array(UnsafeRawBufferPointer($0)) }
        let data = try PNGCodec.encodeRaw(bytes, width: w, height: h, format: .rgb16)
        XCTAssertEqual(data[24], 16, "bit depth byte of IHDR should be 16")
        let img = try PNGCodec.decode(data)
        XCTAssertEqual(img.channels, 3)
        for (i, v) in linear.enumerated() {
            let l = Double(v) / 65535
            XCTAssertEqual(Double(img.pixels[i]), pow(l, 1 / 2.2), accuracy: 1.5 / 255)
        }
    }

    func testSixteenBitGray() throws {
        let linear: [UInt16] = (0..<(w * h)).map { UInt16($0 * 1800) }
        let bytes = linear.withUnsafeBufferPointer { Array(UnsafeRawBufferPointer($0)) }
        let img = try PNGCodec.decode(try PNGCodec.encodeRaw(bytes, width: w, height: h, format: .gray16))
        XCTAssertEqual(img.channels, 3)
        XCTAssertEqual(img.pixels[0], 0)
        XCTAssertGreaterThan(img.pixels[(w * h - 1) * 3], img.pixels[3])
    }

    /// Removes every chunk of the given types from PNG bytes.
    func strippingChunks(_ png: Data, _ types: Set<String>) -> Data {
        var out = Data(png.prefix(8))
        var i = 8
        while i + 12 <= png.count {
            let len = png[i..<i + 4].reduce(0) { $0 << 8 | Int($1) }
            let type = String(decoding: png[i + 4..<i + 8], as: UTF8.self)
            let end = i + 12 + len
            if !types.contains(type) { out.append(png[i..<end]) }
            i = end
        }
        return out
    }

    func testUntaggedSixteenBitIsTreatedAsSRGB() throws {
        // Most 16-bit PNGs (OpenCV, PIL) carry no gAMA chunk and hold sRGB values:
        // 0x8000 must read as 128, not brightened as if it were linear light.
        let samples: [UInt16] = [0, 0x8000, 0xFFFF, 0x4000]
        let bytes = samples.withUnsafeBufferPointer { Array(UnsafeRawBufferPointer($0)) }
        let tagged = try PNGCodec.encodeRaw(bytes, width: 4, height: 1, format: .gray16)
        let untagged = strippingChunks(tagged, ["gAMA", "sRGB", "cHRM", "iCCP"])
        XCTAssertLessThan(untagged.count, tagged.count, "the writer's gAMA chunk should have been removed")
        let img = try PNGCodec.decode(untagged)
        XCTAssertEqual((0..<4).map { UInt8((img.pixels[$0 * 3] * 255).rounded()) }, [0, 128, 255, 64])
    }

    func testWriteAndReadFile() throws {
        let img = Image(width: 3, height: 2, channels: 3, pixels: [0, 0.5, 1, 1, 0, 0, 0.2, 0.4, 0.6, 0, 0, 0, 1, 1, 1, 0.1, 0.9, 0.3])
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("muse-png-\(UUID()).png")
        try PNGCodec.write(img, to: url)
        let back = try PNGCodec.read(url)
        XCTAssertEqual(back.width, 3); XCTAssertEqual(back.height, 2)
        XCTAssertEqual(zip(back.pixels, img.pixels).map { abs($0 - $1) }.max()!, 0, accuracy: 0.5 / 255 + 1e-6)
    }

    func testTruncatedPNG() throws {
        let data = try PNGCodec.encode(Image(width: 20, height: 20, fill: [0.3, 0.6, 0.9]))
        for cut in [12, 40, data.count / 2, data.count - 13] {
            XCTAssertThrowsError(try PNGCodec.decode(data.prefix(cut), name: "cut.png")) { e in
                XCTAssertTrue("\(e)".contains("cut.png") && "\(e)".contains("corrupt"), "\(e)")
            }
        }
    }

    func testGarbageAndBadSignature() {
        XCTAssertThrowsError(try PNGCodec.decode(Data("hello world, not a png".utf8), name: "g.png")) { e in
            XCTAssertTrue("\(e)".contains("g.png: not a PNG file"), "\(e)")
        }
        var junk = Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        junk.append(Data((0..<100).map { UInt8($0 * 7 % 256) }))
        XCTAssertThrowsError(try PNGCodec.decode(junk, name: "j.png")) { e in XCTAssertTrue("\(e)".contains("j.png: corrupt"), "\(e)") }
    }

    func testCorruptedPixelData() throws {
        var data = try PNGCodec.encode(Image(width: 20, height: 20, fill: [0.3, 0.6, 0.9]))
        // Flip bytes in the middle of the IDAT stream: the CRC check must catch it.
        for i in (data.count / 2)..<(data.count / 2 + 4) { data[i] ^= 0xFF }
        XCTAssertThrowsError(try PNGCodec.decode(data, name: "flip.png"))
    }

    func testMissingFile() {
        XCTAssertThrowsError(try PNGCodec.read(URL(fileURLWithPath: "/no/such/file.png"))) { e in
            XCTAssertTrue("\(e)".contains("/no/such/file.png"), "\(e)")
        }
    }
}
