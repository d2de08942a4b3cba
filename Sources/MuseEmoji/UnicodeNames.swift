import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import MuseCore
import MuseData

/// A codepoint sequence written as emoji-test.txt writes it: upper-case hex, at
/// least four digits, single spaces, with every U+FE0F removed (`1F469 200D 1F33E`).
public func emojiKey(_ codepoints: [UInt32]) -> String {
    codepoints.filter { $0 != 0xFE0F }.map { cp -> String in
        let h = String(cp, radix: 16, uppercase: true)
        return h.count < 4 ? String(repeating: "0", count: 4 - h.count) + h : h
    }.joined(separator: " ")
}

/// The split rule (DESIGN.md "Data"): an emoji is held out for evaluation when the first
/// byte of the SHA-256 of its key (`emojiKey`) is divisible by 10.
public func emojiSplit(_ codepoints: [UInt32]) -> String {
    SHA256.hash(emojiKey(codepoints))[0] % 10 == 0 ? "eval" : "train"
}

/// emoji-test.txt: fully-qualified emoji and components, with names, groups, in file order.
public struct EmojiTest: Sendable {
    public struct Entry: Sendable {
        public let codepoints: [UInt32]
        public let status: String
        public let name: String
        public let group: String
        public let subgroup: String
        public var key: String { emojiKey(codepoints) }
    }
    public let entries: [Entry]

    public init(path: String) throws {
        guard FileManager.default.fileExists(atPath: path) else {
            throw MuseError("\(path): emoji-test.txt not found (Debian package \(EmojiDataset.package(for: path)); run scripts/setup-data.sh)")
        }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw MuseError("\(path): cannot read as UTF-8 text") }
        try self.init(text: text, source: path)
    }

    public init(text: String, source: String) throws {
        var out: [Entry] = []
        var group = "", subgroup = ""
        for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("# group:") { group = line.dropFirst(8).trimmingCharacters(in: .whitespaces); continue }
            if line.hasPrefix("# subgroup:") { subgroup = line.dropFirst(11).trimmingCharacters(in: .whitespaces); continue }
            if line.isEmpty || line.hasPrefix("#") { continue }
            let parts = line.split(separator: ";", maxSplits: 1)
            guard parts.count == 2, let hash = parts[1].firstIndex(of: "#") else {
                throw MuseError("\(source):\(n + 1): expected 'codepoints ; status # emoji Ex.y name'")
            }
            let status = parts[1][..<hash].trimmingCharacters(in: .whitespaces)
            guard status == "fully-qualified" || status == "component" else { continue }
            let cps = try parts[0].split(separator: " ").map { h -> UInt32 in
                guard let v = UInt32(h, radix: 16) else { throw MuseError("\(source):\(n + 1): bad codepoint '\(h)'") }
                return v
            }
            // Comment: "<emoji> E<version> <name>".
            let comment = parts[1][parts[1].index(after: hash)...].split(separator: " ", maxSplits: 2)
            guard comment.count == 3, comment[1].hasPrefix("E") else {
                throw MuseError("\(source):\(n + 1): expected '# <emoji> E<version> <name>'")
            }
            out.append(Entry(codepoints: cps, status: status, name: String(comment[2]), group: group, subgroup: subgroup))
        }
        guard !out.isEmpty else { throw MuseError("\(source): no emoji entries found") }
        entries = out
    }
}

/// CLDR annotations: per emoji (keyed by `emojiKey`), its text-to-speech name and its keywords.
public struct CLDRAnnotations: Sendable {
    public var names: [String: String] = [:]
    public var keywords: [String: [String]] = [:]

    public init() {}

    /// Reads each file in turn (later files fill in only what earlier ones lack).
    public init(paths: [String]) throws {
        for p in paths { try add(path: p) }
    }

    public mutating func add(path: String) throws {
        guard FileManager.default.fileExists(atPath: path) else {
            throw MuseError("\(path): CLDR annotations not found (Debian package \(EmojiDataset.package(for: path)); run scripts/setup-data.sh)")
        }
        guard let data = FileManager.default.contents(atPath: path) else { throw MuseError("\(path): cannot read") }
        let delegate = AnnotationParser()
        let parser = XMLParser(data: data)
        parser.shouldResolveExternalEntities = false
        parser.delegate = delegate
        guard parser.parse() else {
            throw MuseError("\(path): malformed XML (\(parser.parserError.map { "\($0)" } ?? "unknown error") at line \(parser.lineNumber))")
        }
        guard !delegate.items.isEmpty else { throw MuseError("\(path): no <annotation> elements found") }
        for (cp, tts, text) in delegate.items {
            let key = emojiKey(cp.unicodeScalars.map { $0.value })
            if tts {
                if names[key] == nil { names[key] = text }
            } else if keywords[key] == nil {
                keywords[key] = text.components(separatedBy: " | ").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            }
        }
    }
}

final class AnnotationParser: NSObject, XMLParserDelegate {
    var items: [(cp: String, tts: Bool, text: String)] = []
    private var current: (cp: String, tts: Bool)? = nil
    private var text = ""

    func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                attributes: [String: String] = [:]) {
        if name == "annotation", let cp = attributes["cp"] { current = (cp, attributes["type"] == "tts"); text = "" }
    }
    func parser(_ parser: XMLParser, foundCharacters string: String) { if current != nil { text += string } }
    func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
        if name == "annotation", let c = current { items.append((c.cp, c.tts, text.trimmingCharacters(in: .whitespacesAndNewlines))); current = nil }
    }
}
