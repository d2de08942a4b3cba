import Foundation

/// Text chunks (iTXt, UTF-8, uncompressed) in PNG bytes: written before IEND,
/// read back by keyword. Used for run provenance (`muse:run`): the pipeline,
/// inputs, seed and settings that made an image, so `muse-run --from` reruns it.
public enum PNGTextChunks {
    /// `png` with one iTXt chunk per (keyword, text) inserted before its IEND chunk.
    /// Keywords: 1-79 Latin-1 printable characters, no NUL (PNG spec 11.3.4.2).
    public static func insert(_ texts: [(keyword: String, text: String)], into png: Data) throws -> Data {
        let chunks = try parse(png, name: "PNG data")
        guard let iend = chunks.last, iend.type == "IEND" else { throw MuseError("PNG data: no IEND chunk") }
        var out = Data(png.prefix(iend.offset))
        for (k, t) in texts {
            let kb = Array(k.utf8)
            guard (1...79).contains(kb.count), kb.allSatisfy({ $0 >= 32 && $0 < 127 }) else {
                throw MuseError("PNG text keyword '\(k)' must be 1-79 printable ASCII characters")
            }
            var body = kb
            body += [0, 0, 0]                // NUL after the keyword, compression flag 0, method 0
            body += [0, 0]                   // empty language tag + NUL, empty translated keyword + NUL
            body += Array(t.utf8)
            out += chunk("iTXt", body)
        }
        out += png.suffix(from: iend.offset)
        return out
    }

    /// Every iTXt and tEXt chunk of `png` as keyword -> text (the first of a keyword wins).
    public static func read(_ png: Data, name: String = "PNG data") throws -> [String: String] {
        var out: [String: String] = [:]
        for c in try parse(png, name: name) where c.type == "iTXt" || c.type == "tEXt" {
            let body = Array(png[(c.offset + 8)..<(c.offset + 8 + c.length)])
            guard let nul = body.firstIndex(of: 0) else { continue }
            let key = String(decoding: body[..<nul], as: UTF8.self)
            var text: String
            if c.type == "tEXt" {
                text = String(decoding: body[(nul + 1)...], as: UTF8.self)
            } else {
                // keyword NUL flag method language NUL translated NUL text
                guard body.count >= nul + 3, body[nul + 1] == 0 else { continue }   // compressed iTXt: not ours
                var i = nul + 3
                guard let l = body[i...].firstIndex(of: 0) else { continue }
                i = l + 1
                guard let tr = body[i...].firstIndex(of: 0) else { continue }
                text = String(decoding: body[(tr + 1)...], as: UTF8.self)
            }
            if out[key] == nil { out[key] = text }
        }
        return out
    }

    struct Chunk { var type: String; var offset: Int; var length: Int }

    /// The chunks of `png` (offset = start of the length field), checking the signature and bounds.
    static func parse(_ png: Data, name: String) throws -> [Chunk] {
        let bytes = [UInt8](png)
        guard bytes.count >= 8, bytes.prefix(8).elementsEqual([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) else {
            throw MuseError("\(name): not a PNG file (bad signature)")
        }
        var chunks: [Chunk] = []
        var i = 8
        while i + 12 <= bytes.count {
            let len = Int(bytes[i]) << 24 | Int(bytes[i + 1]) << 16 | Int(bytes[i + 2]) << 8 | Int(bytes[i + 3])
            guard len <= bytes.count - i - 12 else { throw MuseError("\(name): truncated PNG chunk at byte \(i)") }
            let type = String(decoding: bytes[(i + 4)..<(i + 8)], as: UTF8.self)
            chunks.append(Chunk(type: type, offset: i, length: len))
            i += 12 + len
            if type == "IEND" { break }
        }
        return chunks
    }

    static func chunk(_ type: String, _ body: [UInt8]) -> Data {
        var d = Data()
        let n = UInt32(body.count)
        d += [UInt8(n >> 24), UInt8(n >> 16 & 0xff), UInt8(n >> 8 & 0xff), UInt8(n & 0xff)]
        let typed = Array(type.utf8) + body
        d += typed
        let c = crc32(typed)
        d += [UInt8(c >> 24), UInt8(c >> 16 & 0xff), UInt8(c >> 8 & 0xff), UInt8(c & 0xff)]
        return d
    }

    static let crcTable: [UInt32] = (0..<256).map { n -> UInt32 in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    /// CRC-32 (ISO 3309, as PNG uses it).
    static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes { c = crcTable[Int((c ^ UInt32(b)) & 0xff)] ^ (c >> 8) }
        return c ^ 0xFFFF_FFFF
    }
}
