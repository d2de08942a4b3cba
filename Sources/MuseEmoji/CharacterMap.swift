import Foundation
import MuseCore

/// The font's cmap: codepoint -> glyph (formats 12 and 4), and variation sequences
/// (format 14: non-default (base, selector) -> glyph mappings).
public struct CharacterMap: Sendable {
    public var glyphForCodepoint: [UInt32: Int] = [:]
    /// (base codepoint, variation selector) -> glyph, for non-default variation sequences.
    public var variationGlyphs: [[UInt32]: Int] = [:]

    public init(font: SFNTFont) throws {
        let d = try font.tableData("cmap")
        let base = 0
        let n = try d.u16(base + 2, "cmap header")
        var subtables: [(platform: Int, encoding: Int, offset: Int, format: Int)] = []
        for i in 0..<n {
            let r = base + 4 + 8 * i
            let off = base + (try d.u32(r + 4, "cmap encoding record"))
            subtables.append((try d.u16(r, "cmap encoding record"), try d.u16(r + 2, "cmap encoding record"),
                              off, try d.u16(off, "cmap subtable")))
        }
        // Format 4 first, then format 12 (a superset) overrides.
        for s in subtables where s.format == 4 && (s.platform == 0 || (s.platform == 3 && s.encoding == 1)) {
            try readFormat4(d, s.offset)
        }
        for s in subtables where s.format == 12 && (s.platform == 0 || (s.platform == 3 && s.encoding == 10)) {
            try readFormat12(d, s.offset)
        }
        for s in subtables where s.format == 14 { try readFormat14(d, s.offset) }
        guard !glyphForCodepoint.isEmpty else { throw MuseError("\(font.file): cmap has no Unicode subtable of format 4 or 12") }
    }

    mutating func readFormat12(_ d: FontBytes, _ o: Int) throws {
        let what = "cmap format 12"
        let groups = try d.u32(o + 12, what)
        try d.check(o + 16, groups * 12, what)
        for g in 0..<groups {
            let r = o + 16 + 12 * g
            let start = try d.u32(r, what), end = try d.u32(r + 4, what), glyph = try d.u32(r + 8, what)
            guard end >= start, end - start < 0x110000 else { throw MuseError("\(d.file): \(what): bad group \(start)...\(end)") }
            for c in start...end { glyphForCodepoint[UInt32(c)] = glyph + (c - start) }
        }
    }

    mutating func readFormat4(_ d: FontBytes, _ o: Int) throws {
        let what = "cmap format 4"
        let segX2 = try d.u16(o + 6, what)
        let seg = segX2 / 2
        let ends = o + 14, starts = ends + segX2 + 2, deltas = starts + segX2, ranges = deltas + segX2
        for i in 0..<seg {
            let end = try d.u16(ends + 2 * i, what), start = try d.u16(starts + 2 * i, what)
            let delta = try d.u16(deltas + 2 * i, what), rangeOff = try d.u16(ranges + 2 * i, what)
            guard start <= end else { continue }
            for c in start...end where c != 0xFFFF {
                var g: Int
                if rangeOff == 0 { g = (c + delta) & 0xFFFF } else {
                    let at = ranges + 2 * i + rangeOff + 2 * (c - start)
                    g = try d.u16(at, what)
                    if g != 0 { g = (g + delta) & 0xFFFF }
                }
                if g != 0 { glyphForCodepoint[UInt32(c)] = g }
            }
        }
    }

    mutating func readFormat14(_ d: FontBytes, _ o: Int) throws {
        let what = "cmap format 14"
        let n = try d.u32(o + 6, what)
        for i in 0..<n {
            let r = o + 10 + 11 * i
            let selector = try d.u24(r, what)
            let nonDefault = try d.u32(r + 7, what)
            guard nonDefault != 0 else { continue }
            let m = try d.u32(o + nonDefault, what)
            for k in 0..<m {
                let e = o + nonDefault + 4 + 5 * k
                variationGlyphs[[UInt32(try d.u24(e, what)), UInt32(selector)]] = try d.u16(e + 3, what)
            }
        }
    }
}

/// GSUB ligature substitutions: ligature glyph -> its component glyph sequences
/// (a glyph may be reachable from several sequences, e.g. with and without U+FE0F,
/// or reversed for right-to-left text).
public struct LigatureMap: Sendable {
    /// Ligature glyph -> every component sequence (in lookup order) that forms it.
    public var components: [Int: [[Int]]] = [:]

    public init(font: SFNTFont) throws {
        guard let gsub = font.tables["GSUB"] else { return }   // a font without ligatures
        _ = gsub
        let d = try font.tableData("GSUB")
        let base = 0
        let lookupList = base + (try d.u16(base + 8, "GSUB header"))
        let count = try d.u16(lookupList, "GSUB LookupList")
        for l in 0..<count {
            let lookup = lookupList + (try d.u16(lookupList + 2 + 2 * l, "GSUB LookupList"))
            let type = try d.u16(lookup, "GSUB Lookup")
            let nSub = try d.u16(lookup + 4, "GSUB Lookup")
            for s in 0..<nSub {
                var sub = lookup + (try d.u16(lookup + 6 + 2 * s, "GSUB Lookup"))
                var subType = type
                if type == 7 {   // Extension: format 1, real type, 32-bit offset from this subtable.
                    subType = try d.u16(sub + 2, "GSUB extension subtable")
                    sub += try d.u32(sub + 4, "GSUB extension subtable")
                }
                if subType == 4 { try readLigatures(d, sub) }
            }
        }
    }

    mutating func readLigatures(_ d: FontBytes, _ sub: Int) throws {
        let what = "GSUB ligature subtable"
        guard try d.u16(sub, what) == 1 else { throw MuseError("\(d.file): \(what): unknown format") }
        let firsts = try LigatureMap.coverage(d, sub + (try d.u16(sub + 2, what)))
        let nSets = try d.u16(sub + 4, what)
        guard nSets == firsts.count else {
            throw MuseError("\(d.file): \(what): \(nSets) ligature sets for a coverage of \(firsts.count) glyphs")
        }
        for i in 0..<nSets {
            let set = sub + (try d.u16(sub + 6 + 2 * i, what))
            let nLig = try d.u16(set, "GSUB LigatureSet")
            for k in 0..<nLig {
                let lig = set + (try d.u16(set + 2 + 2 * k, "GSUB LigatureSet"))
                let glyph = try d.u16(lig, "GSUB Ligature"), n = try d.u16(lig + 2, "GSUB Ligature")
                guard n >= 1 else { continue }
                var seq = [firsts[i]]
                for c in 1..<n { seq.append(try d.u16(lig + 4 + 2 * (c - 1), "GSUB Ligature")) }
                components[glyph, default: []].append(seq)
            }
        }
    }

    /// A coverage table's glyphs in coverage-index order (formats 1 and 2).
    static func coverage(_ d: FontBytes, _ o: Int) throws -> [Int] {
        let what = "GSUB coverage table"
        switch try d.u16(o, what) {
        case 1:
            let n = try d.u16(o + 2, what)
            return try (0..<n).map { try d.u16(o + 4 + 2 * $0, what) }
        case 2:
            let n = try d.u16(o + 2, what)
            var out: [(Int, Int)] = []
            for r in 0..<n {
                let s = try d.u16(o + 4 + 6 * r, what), e = try d.u16(o + 6 + 6 * r, what), idx = try d.u16(o + 8 + 6 * r, what)
                guard e >= s else { throw MuseError("\(d.file): \(what): bad range") }
                for g in s...e { out.append((idx + g - s, g)) }
            }
            return out.sorted { $0.0 < $1.0 }.map { $0.1 }
        case let f:
            throw MuseError("\(d.file): \(what): unknown format \(f)")
        }
    }
}
