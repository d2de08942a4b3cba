import Foundation
import MuseCore

/// Colour bitmap glyphs from the CBLC (locations) and CBDT (data) tables.
///
/// CBLC: header (version 3.0, numSizes), then numSizes BitmapSize records of 48
/// bytes; each points to an IndexSubTableArray (firstGlyph, lastGlyph,
/// additionalOffset) whose IndexSubTables (formats 1-5) give each glyph's data
/// offset in CBDT. CBDT glyph formats 17 (small metrics + PNG), 18 (big metrics +
/// PNG) and 19 (PNG, metrics in CBLC) hold PNG data; others are refused.
public struct ColorBitmaps: Sendable {
    /// One strike (bitmap size).
    public struct Strike: Sendable {
        public let ppemX: Int, ppemY: Int
        /// Glyph id -> (CBDT image format, byte range of the glyph record in the file).
        public var glyphs: [Int: (format: Int, start: Int, end: Int)]
    }
    public let strikes: [Strike]
    let font: SFNTFont
    let cbdt: FontBytes

    public init(font: SFNTFont) throws {
        self.font = font
        let d = try font.tableData("CBLC")
        let cblc = 0
        let cbdt = try font.tableData("CBDT")
        self.cbdt = cbdt
        let major = try d.u16(cblc, "CBLC header")
        guard major == 2 || major == 3 else { throw MuseError("\(font.file): CBLC version \(major) is not supported (expected 3)") }
        let numSizes = try d.u32(cblc + 4, "CBLC header")
        guard numSizes > 0 && numSizes < 1000 else { throw MuseError("\(font.file): CBLC claims \(numSizes) strikes") }
        var strikes: [Strike] = []
        for s in 0..<numSizes {
            let r = cblc + 8 + 48 * s
            let arrayOff = cblc + (try d.u32(r, "CBLC BitmapSize"))
            let nSub = try d.u32(r + 8, "CBLC BitmapSize")
            let ppemX = try d.u8(r + 44, "CBLC BitmapSize"), ppemY = try d.u8(r + 45, "CBLC BitmapSize")
            var glyphs: [Int: (Int, Int, Int)] = [:]
            for k in 0..<nSub {
                let e = arrayOff + 8 * k
                let first = try d.u16(e, "CBLC IndexSubTableArray"), last = try d.u16(e + 2, "CBLC IndexSubTableArray")
                let sub = arrayOff + (try d.u32(e + 4, "CBLC IndexSubTableArray"))
                guard last >= first else { throw MuseError("\(font.file): CBLC index subtable with last glyph \(last) < first \(first)") }
                let indexFormat = try d.u16(sub, "CBLC IndexSubHeader")
                let imageFormat = try d.u16(sub + 2, "CBLC IndexSubHeader")
                let imageData = try d.u32(sub + 4, "CBLC IndexSubHeader")
                let what = "CBLC index subtable format \(indexFormat)"
                func put(_ g: Int, _ a: Int, _ b: Int) throws {
                    guard b >= a else { throw MuseError("\(font.file): \(what): glyph \(g) has a negative data length") }
                    try cbdt.check(imageData + a, b - a, "CBDT glyph \(g)")
                    glyphs[g] = (imageFormat, imageData + a, imageData + b)
                }
                switch indexFormat {
                case 1:
                    for (i, g) in (first...last).enumerated() {
                        try put(g, try d.u32(sub + 8 + 4 * i, what), try d.u32(sub + 12 + 4 * i, what))
                    }
                case 3:
                    for (i, g) in (first...last).enumerated() {
                        try put(g, try d.u16(sub + 8 + 2 * i, what), try d.u16(sub + 10 + 2 * i, what))
                    }
                case 2:
                    let size = try d.u32(sub + 8, what)
                    for (i, g) in (first...last).enumerated() { try put(g, i * size, (i + 1) * size) }
                case 4:
                    let n = try d.u32(sub + 8, what)
                    for i in 0..<n {
                        let g = try d.u16(sub + 12 + 4 * i, what)
                        try put(g, try d.u16(sub + 14 + 4 * i, what), try d.u16(sub + 18 + 4 * i, what))
                    }
                case 5:
                    let size = try d.u32(sub + 8, what)
                    let n = try d.u32(sub + 20, what)
                    for i in 0..<n { try put(try d.u16(sub + 24 + 2 * i, what), i * size, (i + 1) * size) }
                default:
                    throw MuseError("\(font.file): CBLC index subtable format \(indexFormat) is unknown")
                }
            }
            strikes.append(Strike(ppemX: ppemX, ppemY: ppemY, glyphs: glyphs))
        }
        self.strikes = strikes
    }

    /// The strike with the most glyphs (ties: the larger ppem).
    public var largest: Strike {
        strikes.max { ($0.glyphs.count, $0.ppemY) < ($1.glyphs.count, $1.ppemY) }!
    }

    /// The PNG bytes of glyph `glyph` in `strike`.
    public func png(glyph: Int, in strike: Strike) throws -> [UInt8] {
        guard let r = strike.glyphs[glyph] else { throw MuseError("\(font.file): glyph \(glyph) has no colour bitmap") }
        let d = cbdt
        let what = "CBDT glyph \(glyph) (format \(r.format))"
        let dataStart: Int
        switch r.format {
        case 17: dataStart = r.start + 5      // SmallGlyphMetrics (5 bytes)
        case 18: dataStart = r.start + 8      // BigGlyphMetrics (8 bytes)
        case 19: dataStart = r.start
        default: throw MuseError("\(font.file): \(what): only PNG formats 17, 18, 19 are supported")
        }
        let len = try d.u32(dataStart, what)
        guard dataStart + 4 + len <= r.end else {
            throw MuseError("\(font.file): \(what): PNG length \(len) runs past the glyph record")
        }
        return try d.slice(dataStart + 4, len, what)
    }
}
