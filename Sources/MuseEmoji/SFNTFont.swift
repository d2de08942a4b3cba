import Foundation
import MuseCore

/// Big-endian, bounds-checked reads over a font's bytes. Every failure throws a
/// `MuseError` naming the file and the table being read.
public struct FontBytes: Sendable {
    public let bytes: [UInt8]
    public let file: String
    /// The table these bytes are (offsets are then relative to its start), or nil for the whole file.
    public let table: String?
    public init(bytes: [UInt8], file: String, table: String? = nil) { self.bytes = bytes; self.file = file; self.table = table }

    func check(_ offset: Int, _ size: Int, _ what: String) throws {
        guard offset >= 0, size >= 0, offset <= bytes.count - size else {
            throw MuseError("\(file): \(what): offset \(offset)+\(size) lies outside \(table.map { "the '\($0)' table" } ?? "the file") (\(bytes.count) bytes); the font is truncated or corrupt")
        }
    }
    public func u8(_ o: Int, _ what: String) throws -> Int { try check(o, 1, what); return Int(bytes[o]) }
    public func u16(_ o: Int, _ what: String) throws -> Int {
        try check(o, 2, what); return Int(bytes[o]) << 8 | Int(bytes[o + 1])
    }
    public func i16(_ o: Int, _ what: String) throws -> Int { Int(Int16(truncatingIfNeeded: try u16(o, what))) }
    public func u24(_ o: Int, _ what: String) throws -> Int {
        try check(o, 3, what); return Int(bytes[o]) << 16 | Int(bytes[o + 1]) << 8 | Int(bytes[o + 2])
    }
    public func u32(_ o: Int, _ what: String) throws -> Int {
        try check(o, 4, what)
        return Int(bytes[o]) << 24 | Int(bytes[o + 1]) << 16 | Int(bytes[o + 2]) << 8 | Int(bytes[o + 3])
    }
    public func slice(_ o: Int, _ n: Int, _ what: String) throws -> [UInt8] { try check(o, n, what); return Array(bytes[o..<(o + n)]) }
}

/// An OpenType/TrueType font file: its table directory.
public struct SFNTFont: Sendable {
    public struct Table: Sendable { public let tag: String; public let offset: Int; public let length: Int }
    public let data: FontBytes
    public let tables: [String: Table]
    public var file: String { data.file }

    /// Opens `path`; throws a clear error when the file is missing, not a font, or its directory is damaged.
    public init(path: String) throws {
        guard FileManager.default.fileExists(atPath: path) else {
            throw MuseError("\(path): font file not found (Debian package \(EmojiDataset.package(for: path)); run scripts/setup-data.sh)")
        }
        guard let d = FileManager.default.contents(atPath: path) else { throw MuseError("\(path): cannot read font file") }
        try self.init(bytes: [UInt8](d), file: path)
    }

    public init(bytes: [UInt8], file: String) throws {
        data = FontBytes(bytes: bytes, file: file)
        guard bytes.count >= 12 else { throw MuseError("\(file): not a font file (only \(bytes.count) bytes)") }
        let version = try data.u32(0, "sfnt header")
        guard version == 0x0001_0000 || version == 0x7472_7565 || version == 0x4F54_544F else {
            throw MuseError("\(file): not a TrueType/OpenType font (sfnt version 0x\(String(version, radix: 16)))")
        }
        let n = try data.u16(4, "sfnt header")
        var t: [String: Table] = [:]
        for i in 0..<n {
            let r = 12 + 16 * i
            let tag = String(decoding: try data.slice(r, 4, "table directory"), as: UTF8.self)
            let off = try data.u32(r + 8, "table directory"), len = try data.u32(r + 12, "table directory")
            try data.check(off, len, "table '\(tag)'")
            t[tag] = Table(tag: tag, offset: off, length: len)
        }
        tables = t
    }

    /// The table `tag`, or a clear error when the font has none.
    public func table(_ tag: String) throws -> Table {
        guard let t = tables[tag] else { throw MuseError("\(file): font has no '\(tag)' table") }
        return t
    }

    /// The bytes of table `tag` alone (reads are bounded by the table; offsets start at 0).
    public func tableData(_ tag: String) throws -> FontBytes {
        let t = try table(tag)
        return FontBytes(bytes: Array(data.bytes[t.offset..<(t.offset + t.length)]), file: file, table: tag)
    }

    /// Number of glyphs (maxp).
    public func glyphCount() throws -> Int { try data.u16(try table("maxp").offset + 4, "maxp") }
}
