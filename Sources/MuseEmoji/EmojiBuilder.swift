import Foundation
import MuseCore
import MuseData

/// One emoji of the data set.
public struct EmojiItem: Sendable {
    public let index: Int
    public let glyph: Int
    /// The codepoints as emoji-test.txt lists them (U+FE0F kept).
    public let codepoints: [UInt32]
    public let name: String
    public let keywords: [String]
    public let group: String
    public let subgroup: String
    /// Other emoji-test entries the font draws with the same glyph (e.g. `flag: Norway` and
    /// `flag: Svalbard & Jan Mayen`): one image, so one item; their names become extra captions.
    public var aliases: [(key: String, name: String)] = []
    /// `emojiKey(codepoints)`: upper-case hex, no U+FE0F.
    public var key: String { emojiKey(codepoints) }
    public var split: String { emojiSplit(codepoints) }
    /// Image file name inside `128/` and `64/`: the key in lower case, dash-separated.
    public var file: String { key.lowercased().replacingOccurrences(of: " ", with: "-") + ".png" }
    /// Caption variants (docs/data.md): the name; `{name} emoji`; `{name}: {keywords}` when
    /// CLDR lists keywords other than the name (at most 5, CLDR order); the names of any aliases.
    public var captions: [String] {
        var out = [name, "\(name) emoji"]
        let kw = keywords.filter { $0.lowercased() != name.lowercased() }.prefix(5)
        if !kw.isEmpty { out.append("\(name): \(kw.joined(separator: ", "))") }
        out += aliases.map { $0.name }
        return out
    }
}

/// Maps the font's colour glyphs to emoji-test.txt entries and writes the data set.
public struct EmojiBuilder {
    public struct Inputs: Sendable {
        public var font = EmojiDataset.defaultFont
        public var emojiTest = EmojiDataset.defaultEmojiTest
        public var annotations = [EmojiDataset.defaultAnnotations, EmojiDataset.defaultDerivedAnnotations]
        public init() {}
    }

    /// What the mapping found (printed by `muse-data emoji`, asserted by tests).
    public struct Stats: Sendable, CustomStringConvertible {
        public var bitmapGlyphs = 0
        public var glyphsWithCmap = 0
        public var glyphsViaLigature = 0
        public var emojiTestEntries = 0
        public var matched = 0
        /// emoji-test entries drawn with the glyph of an earlier entry (kept as that item's alias).
        public var aliases = 0
        public var missingInFont: [String] = []
        /// Pairs of ligature sequences (forward, reversed) reaching the same glyph: the reversed
        /// one is the font's right-to-left copy and is never used (only emoji-test order matches).
        public var rtlDuplicates = 0
        /// Bitmap glyphs with no emoji-test entry (lone keycap bases and regional indicators,
        /// non-RGI tag flags, sequences newer than emoji-test.txt): skipped, they have no name.
        public var otherUnmatched = 0
        public var withKeywords = 0
        public var description: String {
            """
            colour bitmap glyphs: \(bitmapGlyphs) (\(glyphsWithCmap) through cmap, \(glyphsViaLigature) through GSUB ligatures only)
            emoji-test entries (fully-qualified + component): \(emojiTestEntries); matched to glyphs: \(matched) (\(matched - aliases) distinct images, \(aliases) aliases sharing a glyph); not in the font: \(missingInFont.count)
            right-to-left duplicate sequences skipped: \(rtlDuplicates); glyphs without an emoji-test name (skipped): \(otherUnmatched)
            entries with CLDR keywords: \(withKeywords)
            """
        }
    }

    public let font: SFNTFont
    public let bitmaps: ColorBitmaps
    public let strike: ColorBitmaps.Strike
    public let items: [EmojiItem]
    public let stats: Stats

    public init(inputs: Inputs = Inputs()) throws {
        font = try SFNTFont(path: inputs.font)
        bitmaps = try ColorBitmaps(font: font)
        strike = bitmaps.largest
        let cmap = try CharacterMap(font: font)
        let ligatures = try LigatureMap(font: font)
        let test = try EmojiTest(path: inputs.emojiTest)
        let cldr = try CLDRAnnotations(paths: inputs.annotations)

        // Glyph -> every codepoint sequence that reaches it.
        var direct: [Int: [[UInt32]]] = [:]
        for (cp, g) in cmap.glyphForCodepoint.sorted(by: { $0.key < $1.key }) { direct[g, default: []].append([cp]) }
        for (seq, g) in cmap.variationGlyphs.sorted(by: { $0.key.lexicographicallyPrecedes($1.key) }) { direct[g, default: []].append(seq) }
        var memo: [Int: [[UInt32]]] = [:]
        func sequences(_ g: Int, depth: Int) -> [[UInt32]] {
            if let m = memo[g] { return m }
            var out = direct[g] ?? []
            if depth < 8, let comps = ligatures.components[g] {
                for comp in comps {
                    // Each component through its first sequence (components are cmap glyphs in practice).
                    var seq: [UInt32] = []
                    var ok = true
                    for c in comp {
                        guard let s = sequences(c, depth: depth + 1).first else { ok = false; break }
                        seq += s
                    }
                    if ok { out.append(seq) }
                }
            }
            memo[g] = out
            return out
        }

        var stats = Stats()
        stats.bitmapGlyphs = strike.glyphs.count
        var glyphForExact: [[UInt32]: Int] = [:]
        var glyphForKey: [String: Int] = [:]
        var keysOfGlyph: [Int: [String]] = [:]
        for g in strike.glyphs.keys.sorted() {
            let seqs = sequences(g, depth: 0)
            if direct[g] != nil { stats.glyphsWithCmap += 1 } else if !seqs.isEmpty { stats.glyphsViaLigature += 1 }
            for s in seqs {
                if glyphForExact[s] == nil { glyphForExact[s] = g }
                let k = emojiKey(s)
                if glyphForKey[k] == nil { glyphForKey[k] = g }
                keysOfGlyph[g, default: []].append(k)
            }
        }

        stats.emojiTestEntries = test.entries.count
        var items: [EmojiItem] = []
        var used = Set<Int>(), seenKeys = Set<String>()
        var itemOfGlyph: [Int: Int] = [:]
        for e in test.entries {
            let key = e.key
            guard !seenKeys.contains(key) else { continue }
            // Prefer the glyph reached by exactly emoji-test's sequence, then by the sequence without U+FE0F.
            guard let g = glyphForExact[e.codepoints] ?? glyphForKey[key] else { stats.missingInFont.append(key); continue }
            seenKeys.insert(key)
            if let k = itemOfGlyph[g] {   // the font draws this emoji with an earlier one's glyph
                items[k].aliases.append((key, e.name)); stats.aliases += 1; continue
            }
            itemOfGlyph[g] = items.count
            used.insert(g)
            let kw = cldr.keywords[key] ?? []
            if !kw.isEmpty { stats.withKeywords += 1 }
            items.append(EmojiItem(index: items.count, glyph: g, codepoints: e.codepoints, name: e.name, keywords: kw,
                                   group: e.group, subgroup: e.subgroup))
        }
        stats.matched = items.count + stats.aliases
        for g in strike.glyphs.keys {
            // Right-to-left copies: a ligature sequence whose reversal also reaches the glyph.
            let seqs = sequences(g, depth: 0)
            let keys = Set(seqs.map { emojiKey($0) })
            for s in seqs where s.count > 1 && s != Array(s.reversed()) && keys.contains(emojiKey(Array(s.reversed()))) {
                stats.rtlDuplicates += 1
            }
            if !used.contains(g) { stats.otherUnmatched += 1 }
        }
        stats.rtlDuplicates /= 2   // each pair was counted from both ends
        self.items = items
        self.stats = stats
    }

    /// The emoji's image: the glyph's PNG composited onto white and padded to a white
    /// square (centred; an odd remainder goes right/bottom), RGB.
    public func squareImage(_ item: EmojiItem) throws -> Image {
        let png = try bitmaps.png(glyph: item.glyph, in: strike)
        let img = try PNGCodec.decode(Data(png), name: "\(font.file) glyph \(item.glyph) (\(item.key))").rgb(over: [1, 1, 1])
        let side = max(img.width, img.height)
        var square = Image(width: side, height: side, fill: [1, 1, 1])
        square.paste(img, x: (side - img.width) / 2, y: (side - img.height) / 2)
        return square
    }

    /// Writes the data set (docs/data.md "Emoji"):
    ///     DIR/128/<key>.png, DIR/64/<key>.png   area-resized from the padded square
    ///     DIR/manifest.jsonl                    one JSON object per emoji, index order
    ///     DIR/dataset.json                      summary (counts, sources, split rule)
    /// `limit` writes only the first `limit` items (for tests and previews).
    public func write(to dir: URL, limit: Int? = nil, progress: ((Int) -> Void)? = nil) throws {
        let items = limit.map { Array(self.items.prefix($0)) } ?? self.items
        let fm = FileManager.default
        for s in ["128", "64"] {
            do { try fm.createDirectory(at: dir.appendingPathComponent(s), withIntermediateDirectories: true) } catch {
                throw MuseError("\(dir.path): cannot create output folder (\(error.localizedDescription))")
            }
        }
        var lines: [String] = []
        var splits: [String: Int] = [:]
        for (k, item) in items.enumerated() {
            let sq = try squareImage(item)
            for size in [128, 64] {
                let img = sq.resized(width: size, height: size, filter: .box)
                try PNGCodec.write(img, to: dir.appendingPathComponent("\(size)/\(item.file)"))
            }
            splits[item.split, default: 0] += 1
            lines.append(try EmojiBuilder.jsonLine(record(item)))
            progress?(k + 1)
        }
        try EmojiBuilder.writeText(lines.joined(separator: "\n") + "\n", to: dir.appendingPathComponent("manifest.jsonl"))
        let info: [String: Any] = [
            "kind": "emoji", "version": 1, "count": items.count, "sizes": [128, 64], "manifest": "manifest.jsonl",
            "font": (font.file as NSString).lastPathComponent,
            "font_sha256": SHA256.hex(SHA256.hash(font.data.bytes)),
            "strike_ppem": strike.ppemY, "splits": splits,
            "split_rule": "eval when SHA-256(codepoints)[0] % 10 == 0; codepoints = upper-case hex, >= 4 digits, single spaces, U+FE0F removed",
        ]
        try EmojiBuilder.writeText(try EmojiBuilder.jsonLine(info) + "\n", to: dir.appendingPathComponent("dataset.json"))
    }

    /// The manifest record of `item`.
    public func record(_ item: EmojiItem) -> [String: Any] {
        [
            "index": item.index, "file": item.file, "codepoints": item.key,
            "sequence": item.codepoints.map { String($0, radix: 16, uppercase: true) }.joined(separator: " "),
            "emoji": String(String.UnicodeScalarView(item.codepoints.compactMap(Unicode.Scalar.init))),
            "name": item.name, "keywords": item.keywords, "captions": item.captions, "split": item.split,
            "group": item.group, "subgroup": item.subgroup, "glyph": item.glyph,
            "aliases": item.aliases.map { ["codepoints": $0.key, "name": $0.name] },
        ]
    }

    static func jsonLine(_ object: Any) throws -> String {
        let d = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
        return String(decoding: d, as: UTF8.self)
    }

    static func writeText(_ s: String, to url: URL) throws {
        do { try Data(s.utf8).write(to: url, options: .atomic) } catch {
            throw MuseError("\(url.path): cannot write (\(error.localizedDescription))")
        }
    }
}
