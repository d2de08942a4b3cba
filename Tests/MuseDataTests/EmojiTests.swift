import XCTest
import Foundation
import MuseCore
import MuseData
import MuseEmoji

/// Tests on the real Debian inputs. Run scripts/setup-data.sh first; they skip (saying so)
/// only when the packages are missing.
final class EmojiTests: XCTestCase {
    static let fm = FileManager.default
    func requireInputs() throws {
        for p in [EmojiDataset.defaultFont, EmojiDataset.defaultEmojiTest, EmojiDataset.defaultAnnotations, EmojiDataset.defaultDerivedAnnotations]
        where !EmojiTests.fm.fileExists(atPath: p) {
            throw XCTSkip("\(p) missing: run scripts/setup-data.sh (Debian package \(EmojiDataset.package(for: p)))")
        }
    }

    // Built once for the tests that need the mapping (about a second in debug).
    nonisolated(unsafe) static var cached: EmojiBuilder?
    func builder() throws -> EmojiBuilder {
        try requireInputs()
        if let b = EmojiTests.cached { return b }
        let b = try EmojiBuilder()
        EmojiTests.cached = b
        return b
    }

    func testFontTablesAndBitmaps() throws {
        try requireInputs()
        let font = try SFNTFont(path: EmojiDataset.defaultFont)
        for t in ["cmap", "CBLC", "CBDT", "GSUB", "maxp"] { XCTAssertNotNil(font.tables[t], t) }
        let bitmaps = try ColorBitmaps(font: font)
        XCTAssertEqual(bitmaps.largest.glyphs.count, 3926)
        let cmap = try CharacterMap(font: font)
        let g = try XCTUnwrap(cmap.glyphForCodepoint[0x1F600])
        let png = try bitmaps.png(glyph: g, in: bitmaps.largest)
        let img = try PNGCodec.decode(Data(png))
        XCTAssertEqual(img.width, 136); XCTAssertEqual(img.height, 128)
        let ligatures = try LigatureMap(font: font)
        XCTAssertGreaterThan(ligatures.components.count, 2400)
    }

    func testMapping() throws {
        let b = try builder()
        XCTAssertEqual(b.stats.bitmapGlyphs, 3926)
        XCTAssertEqual(b.stats.glyphsViaLigature, 2480)
        XCTAssertGreaterThanOrEqual(b.items.count, 3600)
        XCTAssertEqual(Set(b.items.map { $0.key }).count, b.items.count, "one item per sequence")
        XCTAssertEqual(Set(b.items.map { $0.glyph }).count, b.items.count, "one item per glyph")
        XCTAssertEqual(b.stats.matched, b.items.count + b.stats.aliases)
        // Norway, Svalbard & Jan Mayen and Bouvet Island share one flag glyph: one item, the other names as captions.
        let norway = try XCTUnwrap(b.items.first { $0.captions.contains("flag: Norway") })
        XCTAssertTrue(norway.captions.contains("flag: Svalbard & Jan Mayen"), "\(norway.captions)")
        XCTAssertEqual(b.items.filter { $0.captions.contains("flag: Norway") }.count, 1)
        XCTAssertGreaterThan(b.stats.rtlDuplicates, 0)
        let farmer = try XCTUnwrap(b.items.first { $0.name == "woman farmer: medium skin tone" })
        XCTAssertEqual(farmer.key, "1F469 1F3FD 200D 1F33E")
        let plain = try XCTUnwrap(b.items.first { $0.key == "1F469 200D 1F33E" })
        XCTAssertEqual(plain.name, "woman farmer")
        XCTAssertEqual(plain.split, "eval")
        XCTAssertTrue(plain.keywords.contains("farmer"))
        XCTAssertEqual(plain.captions, ["woman farmer", "woman farmer emoji", "woman farmer: farmer, gardener, rancher, woman"])
        let japan = try XCTUnwrap(b.items.first { $0.key == "1F1EF 1F1F5" })
        XCTAssertEqual(japan.name, "flag: Japan")
        XCTAssertNotNil(b.items.first { $0.key == "0023 20E3" && $0.name == "keycap: #" })
        // Every split follows the rule.
        for it in b.items { XCTAssertEqual(it.split, SHA256.hash(it.key)[0] % 10 == 0 ? "eval" : "train") }
        let eval = b.items.filter { $0.split == "eval" }.count
        XCTAssertTrue((250...500).contains(eval), "about a tenth held out, got \(eval)")
    }

    func testImagesAndDeterministicOutput() throws {
        let b = try builder()
        let sq = try b.squareImage(b.items[0])
        XCTAssertEqual(sq.width, 136); XCTAssertEqual(sq.height, 136); XCTAssertEqual(sq.channels, 3)
        XCTAssertEqual(Array(sq.pixels[0..<3]), [1, 1, 1], "padding is white")
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("muse-emoji-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: tmp) }
        let a = tmp.appendingPathComponent("a"), c = tmp.appendingPathComponent("b")
        try b.write(to: a, limit: 12)
        try b.write(to: c, limit: 12)
        for f in ["manifest.jsonl", "dataset.json", "128/\(b.items[3].file)", "64/\(b.items[11].file)"] {
            XCTAssertEqual(FileManager.default.contents(atPath: a.appendingPathComponent(f).path),
                           FileManager.default.contents(atPath: c.appendingPathComponent(f).path), f)
        }
        let img = try PNGCodec.read(a.appendingPathComponent("64/\(b.items[0].file)"))
        XCTAssertEqual(img.width, 64); XCTAssertEqual(img.height, 64)
        let ds = try DataSet(root: a)
        XCTAssertEqual(ds.kind, "emoji"); XCTAssertEqual(ds.items.count, 12)
        XCTAssertEqual(ds.items[0].captions, b.items[0].captions)
    }

    // MARK: bad input gives clear errors

    func message(_ body: () throws -> Void) -> String {
        do { try body(); return "" } catch { return "\(error)" }
    }

    func testMissingFilesNameThePackage() {
        let m = message { _ = try SFNTFont(path: "/nonexistent/NotoColorEmoji.ttf") }
        XCTAssertTrue(m.contains("/nonexistent/NotoColorEmoji.ttf") && m.contains("fonts-noto-color-emoji"), m)
        let t = message { _ = try EmojiTest(path: "/nonexistent/unicode/emoji/emoji-test.txt") }
        XCTAssertTrue(t.contains("unicode-data"), t)
        let c = message { _ = try CLDRAnnotations(paths: ["/nonexistent/annotations/en.xml"]) }
        XCTAssertTrue(c.contains("unicode-cldr-core"), c)
    }

    func testMalformedFonts() throws {
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("muse-font-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: tmp) }
        func write(_ bytes: [UInt8], _ name: String) throws -> String {
            let p = tmp.appendingPathComponent(name).path
            try Data(bytes).write(to: URL(fileURLWithPath: p)); return p
        }
        // Synthetic files.
        let tiny = try write([0, 1, 0], "tiny.ttf")
        XCTAssertTrue(message { _ = try SFNTFont(path: tiny) }.contains("not a font file"))
        let text = try write(Array("hello, this is not a font at all".utf8), "text.ttf")
        let m1 = message { _ = try SFNTFont(path: text) }
        XCTAssertTrue(m1.contains(text) && m1.contains("not a TrueType/OpenType font"), m1)
        // Directory says one table 'CBLC' far past the end.
        var dir: [UInt8] = [0, 1, 0, 0, 0, 1, 0, 16, 0, 0, 0, 0]
        dir += Array("CBLC".utf8) + [0, 0, 0, 0] + [0, 0, 0x10, 0] + [0, 0, 1, 0]
        let bad = try write(dir, "baddir.ttf")
        let m2 = message { _ = try SFNTFont(path: bad) }
        XCTAssertTrue(m2.contains(bad) && m2.contains("table 'CBLC'") && m2.contains("truncated or corrupt"), m2)

        try requireInputs()
        let real = [UInt8](try Data(contentsOf: URL(fileURLWithPath: EmojiDataset.defaultFont)))
        // Truncated copy: the directory now points past the end.
        let cut = try write(Array(real.prefix(200_000)), "truncated.ttf")
        let m3 = message { _ = try EmojiBuilder.Inputs().with(font: cut).build() }
        XCTAssertTrue(m3.contains(cut) && m3.contains("truncated or corrupt"), m3)
        // Garbled CBLC: the first strike's index-subtable array offset points outside the file.
        let font = try SFNTFont(bytes: real, file: "real")
        let cblc = try XCTUnwrap(font.tables["CBLC"]).offset
        var garbled = real
        for i in 0..<4 { garbled[cblc + 8 + i] = 0x7F }
        let g = try write(garbled, "garbled.ttf")
        let m4 = message { _ = try EmojiBuilder.Inputs().with(font: g).build() }
        XCTAssertTrue(m4.contains(g) && m4.contains("CBLC"), m4)
        // Garbled GSUB lookup list offset.
        let gsub = try XCTUnwrap(font.tables["GSUB"]).offset
        var garbled2 = real
        garbled2[gsub + 8] = 0xFF; garbled2[gsub + 9] = 0xF0
        let g2 = try write(garbled2, "garbled-gsub.ttf")
        let m5 = message { _ = try LigatureMap(font: try SFNTFont(path: g2)) }
        XCTAssertTrue(m5.contains(g2) && m5.contains("GSUB"), m5)
    }
}

extension EmojiBuilder.Inputs {
    func with(font: String) -> Self { var c = self; c.font = font; return c }
    func build() throws -> EmojiBuilder { try EmojiBuilder(inputs: self) }
}
