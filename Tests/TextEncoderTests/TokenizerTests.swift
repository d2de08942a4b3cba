import Foundation
import XCTest
import MuseCore
@testable import MuseTextEncoder

/// The Swift WordPiece tokenizer against `transformers.BertTokenizer` on the
/// strings in Fixtures/tokenizer_cases.json (made by
/// scripts/reference/make_text_encoder_fixtures.py).
final class TokenizerTests: XCTestCase {
    static func tokenizer() throws -> BertTokenizer {
        let dir = try ModelFiles.require()
        return try BertTokenizer(vocabularyURL: dir.appendingPathComponent("vocab.txt"))
    }

    func testIDsMatchReferenceOnAllFixtureStrings() throws {
        let tok = try Self.tokenizer()
        let file = try Fixtures.load("tokenizer_cases.json")
        XCTAssertGreaterThanOrEqual(Set(file.cases.map(\.text)).count, 500, "fixture should hold 500+ distinct strings")
        var mismatches: [String] = []
        var truncatedCount = 0
        for c in file.cases {
            let got = try tok.encode(c.text, maxTokens: c.max_tokens, allowEmpty: true)
            if got.truncated { truncatedCount += 1 }
            if got.ids != c.ids {
                let shown = c.text.unicodeScalars.map { $0.value < 0x20 || $0.value > 0x7E ? String(format: "\\u{%X}", $0.value) : String($0) }.joined()
                mismatches.append("\"\(shown)\" (max \(c.max_tokens)):\n  expected \(c.ids)\n  got      \(got.ids)\n  pieces   \(tok.pieces(c.text))")
            }
            if let t = c.truncated { XCTAssertEqual(got.truncated, t, "truncation flag for \(c.text.prefix(40))") }
        }
        XCTAssertGreaterThan(truncatedCount, 0)
        XCTAssertTrue(mismatches.isEmpty, "\(mismatches.count) of \(file.cases.count) cases differ:\n" + mismatches.prefix(20).joined(separator: "\n"))
        print("TokenizerTests: \(file.cases.count) cases (\(Set(file.cases.map(\.text)).count) strings), \(mismatches.count) mismatches")
    }

    func testKnownPieces() throws {
        let tok = try Self.tokenizer()
        XCTAssertEqual(tok.pieces("three blue stars on a light blue background"),
                       ["three", "blue", "stars", "on", "a", "light", "blue", "background"])
        XCTAssertEqual(tok.pieces("woman farmer: medium skin tone"), ["woman", "farmer", ":", "medium", "skin", "tone"])
        XCTAssertEqual(tok.pieces("Café, NAÏVE!"), ["cafe", ",", "naive", "!"])
        XCTAssertEqual(tok.pieces("中文日本"), ["中", "文", "日", "本"])
        XCTAssertEqual(tok.pieces("你好"), ["[UNK]", "[UNK]"])   // not in this vocabulary
        XCTAssertEqual(tok.pieces(String(repeating: "a", count: 101)), ["[UNK]"])
        XCTAssertEqual(tok.pieces("bell\u{07}char"), tok.pieces("bellchar"))
        XCTAssertEqual(tok.pieces("[MASK] x"), ["[MASK]", "x"])
    }

    func testSpecialTokensAndTruncation() throws {
        let tok = try Self.tokenizer()
        let e = try tok.encode("hello world", maxTokens: 32)
        XCTAssertEqual(e.ids.first, tok.clsID)
        XCTAssertEqual(e.ids.last, tok.sepID)
        XCTAssertFalse(e.truncated)
        let long = try tok.encode(String(repeating: "word ", count: 100), maxTokens: 16)
        XCTAssertEqual(long.ids.count, 16)
        XCTAssertEqual(long.ids.last, tok.sepID)
        XCTAssertTrue(long.truncated)
        XCTAssertEqual(long.untruncatedPieces, 100)
    }

    func testEmptyPromptIsAnError() throws {
        let tok = try Self.tokenizer()
        for text in ["", "   ", "\t\n", "\u{0}\u{7}"] {
            XCTAssertThrowsError(try tok.encode(text, maxTokens: 32)) { error in
                XCTAssertTrue("\(error)".contains("prompt is"), "\(error)")
            }
        }
        XCTAssertEqual(try tok.encode("", maxTokens: 32, allowEmpty: true).ids, [tok.clsID, tok.sepID])
    }

    func testMissingVocabularyNamesThePath() {
        let url = URL(fileURLWithPath: "/nonexistent/vocab.txt")
        XCTAssertThrowsError(try BertTokenizer(vocabularyURL: url)) { error in
            XCTAssertTrue("\(error)".contains("/nonexistent/vocab.txt"), "\(error)")
            XCTAssertTrue("\(error)".contains("fetch-text-encoder.sh"), "\(error)")
        }
    }
}
