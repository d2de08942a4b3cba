import Foundation
import MuseCore
import XCTest

/// The plugin ABI string (muse_abi.h) carries a hash of MuseCore's interface.
/// This test recomputes it from the sources and fails, with the new value,
/// when MuseCore's declarations changed but the header was not updated: then
/// plugins built before the change would still be accepted.
///
/// To update: set MUSE_CORE_INTERFACE_HASH in
/// Sources/MuseCore/Sources/CMuseABI/include/muse_abi.h to the value printed, or run
///     MUSE_UPDATE_ABI_HASH=1 swift test --skip-build --filter PluginABITests
/// (which rewrites the header), then rebuild everything.
final class PluginABITests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let sources = root.appendingPathComponent("Sources/MuseCore/Sources/MuseCore")
    static let header = root.appendingPathComponent("Sources/MuseCore/Sources/CMuseABI/include/muse_abi.h")

    func testInterfaceHashIsCurrent() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.sources.path).filter { $0.hasSuffix(".swift") }.sorted()
        XCTAssertFalse(files.isEmpty)
        var lines: [String] = []
        for f in files {
            lines += InterfaceScanner.declarations(try String(contentsOf: Self.sources.appendingPathComponent(f), encoding: .utf8))
        }
        let hash = FNV1a.hex(lines.joined(separator: "\n").utf8)
        let headerText = try String(contentsOf: Self.header, encoding: .utf8)
        let current = "#define MUSE_CORE_INTERFACE_HASH \"\(MUSE_CORE_INTERFACE_HASH)\""
        XCTAssertTrue(headerText.contains(current), "the test was built from another muse_abi.h: rebuild")
        if hash != MUSE_CORE_INTERFACE_HASH {
            if ProcessInfo.processInfo.environment["MUSE_UPDATE_ABI_HASH"] == "1" {
                try headerText.replacingOccurrences(of: current, with: "#define MUSE_CORE_INTERFACE_HASH \"\(hash)\"")
                    .write(to: Self.header, atomically: true, encoding: .utf8)
                print("PluginABITests: wrote MUSE_CORE_INTERFACE_HASH \(hash) to \(Self.header.path); rebuild everything")
            } else {
                XCTFail("""
                    MuseCore's interface changed (its declarations hash to \(hash), but muse_abi.h says \(MUSE_CORE_INTERFACE_HASH)). \
                    Plugins built before the change must be refused: set MUSE_CORE_INTERFACE_HASH in \(Self.header.path) to "\(hash)" \
                    (or run MUSE_UPDATE_ABI_HASH=1 swift test --skip-build --filter PluginABITests), rebuild, and rebuild every plugin.
                    """)
            }
        }
    }

    /// What the scanner keeps: declarations outside function bodies, with comments
    /// dropped and whitespace collapsed; never the bodies (a change inside a
    /// function does not change the hash).
    func testScannerKeepsDeclarationsNotBodies() {
        let source = """
        import Foundation
        /// A doc comment { with a brace
        public struct Point: Equatable {
            public var x: Int   // trailing comment
            private let label = "}{"
            public init(x: Int,
                        label: String) {
                self.x = x; let y = { 1 }(); _ = y
                if x > 0 { print("{") }
            }
            public var double: Int { x * 2 }
            enum Kind: String { case a, b }
            static func make() -> Point { Point(x: 1, label: #"raw "{" string"#) }
            var block: (Int) -> Int = { v in
                v + 1
            }
        }
        extension Point { public func moved() -> Point { self } }
        """
        XCTAssertEqual(InterfaceScanner.declarations(source), [
            "import Foundation",
            "public struct Point: Equatable",
            "public var x: Int",
            "private let label = \"}{\"",
            "public init(x: Int,",
            "label: String)",
            "public var double: Int",
            "enum Kind: String",
            "case a, b",
            "static func make() -> Point",
            "var block: (Int) -> Int =",
            "extension Point",
            "public func moved() -> Point",
        ])
        // Bodies do not count; declarations do.
        let changedBody = source.replacingOccurrences(of: "self.x = x;", with: "self.x = x + 0;")
        XCTAssertEqual(InterfaceScanner.declarations(changedBody), InterfaceScanner.declarations(source))
        let changedDecl = source.replacingOccurrences(of: "public var x: Int", with: "public var x: Int64")
        XCTAssertNotEqual(InterfaceScanner.declarations(changedDecl), InterfaceScanner.declarations(source))
    }
}

/// Extracts the declarations of Swift source: the text outside function,
/// accessor and closure bodies, one entry per non-empty line, comments removed,
/// whitespace collapsed. Type bodies (struct, class, enum, extension, protocol,
/// actor) are entered; any other `{ ... }` is skipped. Braces inside string
/// literals (plain, multi-line and raw) and comments do not count.
enum InterfaceScanner {
    static let typeKeywords: Set<String> = ["struct", "class", "enum", "extension", "protocol", "actor"]
    static let memberKeywords: Set<String> = ["func", "init", "deinit", "var", "let", "subscript", "case", "typealias"]

    static func declarations(_ source: String) -> [String] {
        let chars = Array(source)
        var out: [String] = []
        var line = ""               // declaration-scope text of the current line
        var pending = ""            // declaration-scope code since the last brace
        var scopes: [Bool] = []     // true: a type body (declarations); false: code
        var i = 0
        var inDeclarations: Bool { scopes.allSatisfy { $0 } }

        func emitLine() {
            let t = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).joined(separator: " ")
            if !t.isEmpty { out.append(t) }
            line = ""
        }
        func keep(_ s: String) { if inDeclarations { line += s; pending += s } }
        /// Whether a `{` after `pending` opens a type body: the last declaration
        /// keyword before it is a type keyword (`class func`/`class var` are members).
        func opensType() -> Bool {
            let words = pending.split(whereSeparator: { !($0.isLetter || $0.isNumber || $0 == "_") }).map(String.init)
            for (k, w) in words.enumerated().reversed() {
                if memberKeywords.contains(w) { return false }
                if typeKeywords.contains(w) {
                    if w == "class", k + 1 < words.count, memberKeywords.contains(words[k + 1]) { return false }
                    return true
                }
            }
            return false
        }
        func skipString() {
            // At a quote (possibly after #s): copy the literal whole, tracking interpolations.
            var hashes = 0
            while i < chars.count, chars[i] == "#" { hashes += 1; i += 1 }
            let multi = i + 2 < chars.count && chars[i] == "\"" && chars[i + 1] == "\"" && chars[i + 2] == "\""
            var text = String(repeating: "#", count: hashes) + (multi ? "\"\"\"" : "\"")
            i += multi ? 3 : 1
            let closing = (multi ? "\"\"\"" : "\"") + String(repeating: "#", count: hashes)
            let close = Array(closing)
            while i < chars.count {
                if Array(chars[i..<min(chars.count, i + close.count)]) == close { text += closing; i += close.count; break }
                if chars[i] == "\\" {
                    // An escape only counts with the literal's number of #s.
                    let escHashes = Array(chars[(i + 1)..<min(chars.count, i + 1 + hashes)])
                    if escHashes.allSatisfy({ $0 == "#" }) && escHashes.count == hashes {
                        let after = i + 1 + hashes
                        if after < chars.count, chars[after] == "(" {
                            // Interpolation: copy up to the matching parenthesis (strings inside included).
                            text += String(chars[i...after]); i = after + 1
                            var depth = 1
                            while i < chars.count && depth > 0 {
                                if chars[i] == "\"" { copyNestedString(&text); continue }
                                if chars[i] == "(" { depth += 1 } else if chars[i] == ")" { depth -= 1 }
                                text.append(chars[i]); i += 1
                            }
                            continue
                        }
                        text += String(chars[i..<min(chars.count, after + 1)]); i = after + 1
                        continue
                    }
                }
                if !multi && chars[i] == "\n" { break }   // unterminated: stop at the line's end
                text.append(chars[i]); i += 1
            }
            keep(text)
        }
        func copyNestedString(_ text: inout String) {
            // A nested literal inside an interpolation: copy it without interpreting.
            text.append(chars[i]); i += 1
            while i < chars.count && chars[i] != "\"" && chars[i] != "\n" {
                if chars[i] == "\\", i + 1 < chars.count { text.append(chars[i]); i += 1 }
                text.append(chars[i]); i += 1
            }
            if i < chars.count && chars[i] == "\"" { text.append(chars[i]); i += 1 }
        }

        while i < chars.count {
            let c = chars[i]
            let next: Character? = i + 1 < chars.count ? chars[i + 1] : nil
            if c == "/" && next == "/" {
                while i < chars.count && chars[i] != "\n" { i += 1 }
                continue
            }
            if c == "/" && next == "*" {
                var depth = 0
                repeat {
                    if chars[i] == "/" && i + 1 < chars.count && chars[i + 1] == "*" { depth += 1; i += 2; continue }
                    if chars[i] == "*" && i + 1 < chars.count && chars[i + 1] == "/" { depth -= 1; i += 2; continue }
                    if chars[i] == "\n" { emitLine() }
                    i += 1
                } while i < chars.count && depth > 0
                continue
            }
            if c == "\"" || (c == "#" && (next == "\"" || next == "#")) { skipString(); continue }
            switch c {
            case "\n":
                emitLine()
                if inDeclarations { pending += " " }
            case "{":
                if inDeclarations {
                    scopes.append(opensType())
                    emitLine()
                } else {
                    scopes.append(false)
                }
                pending = ""
            case "}":
                if !scopes.isEmpty { scopes.removeLast() }
                if inDeclarations { emitLine() }
                pending = ""
            case ";":
                if inDeclarations { emitLine(); pending = "" }
            default:
                keep(String(c))
            }
            i += 1
        }
        emitLine()
        return out
    }
}
