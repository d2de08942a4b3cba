import Foundation
import MuseCore

/// The result of tokenizing one prompt for the encoder.
public struct TokenizedText: Equatable, Sendable {
    /// `[CLS] pieces... [SEP]`, at most the tokenizer's maximum.
    public var ids: [Int32]
    /// Number of word pieces before truncation (without `[CLS]`/`[SEP]`).
    public var untruncatedPieces: Int
    /// Whether pieces were cut to fit the maximum.
    public var truncated: Bool
}

/// The uncased BERT tokenizer of all-MiniLM-L6-v2: special-token split, then
/// `BasicTokenizer`, then `WordPieceTokenizer`, then `[CLS] ... [SEP]` and
/// truncation.
///
/// Matches `transformers.BertTokenizer(vocab.txt, do_lower_case=True)` called as
/// `tokenizer(text, truncation=True, max_length=maxTokens)["input_ids"]`:
/// literal special tokens in the text (`[CLS]`, `[SEP]`, `[PAD]`, `[UNK]`,
/// `[MASK]`, case-sensitive, as `PreTrainedTokenizer.tokenize` splits them out
/// with its trie) map to their ids; everything between them goes through the
/// basic tokenizer and WordPiece; the pieces are cut to `maxTokens - 2` and
/// wrapped in `[CLS]`/`[SEP]`.
public struct BertTokenizer: Sendable {
    public let vocabulary: Vocabulary
    public let basic = BasicTokenizer()
    public let wordPiece: WordPieceTokenizer
    public let clsID: Int32
    public let sepID: Int32
    public let padID: Int32
    /// Special tokens recognised verbatim in the input, longest first.
    private let specials: [(token: [Unicode.Scalar], id: Int32)]

    public static let specialTokens = ["[CLS]", "[SEP]", "[PAD]", "[UNK]", "[MASK]"]

    public init(vocabulary: Vocabulary) throws {
        self.vocabulary = vocabulary
        wordPiece = try WordPieceTokenizer(vocabulary: vocabulary)
        clsID = try vocabulary.requireID("[CLS]")
        sepID = try vocabulary.requireID("[SEP]")
        padID = try vocabulary.requireID("[PAD]")
        var sp: [(token: [Unicode.Scalar], id: Int32)] = []
        for t in BertTokenizer.specialTokens {
            if let id = vocabulary.id(t) { sp.append((Array(t.unicodeScalars), id)) }
        }
        specials = sp.sorted { $0.token.count > $1.token.count }
    }

    /// Reads the vocabulary from `vocab.txt`.
    public init(vocabularyURL: URL) throws {
        try self.init(vocabulary: try Vocabulary(contentsOf: vocabularyURL))
    }

    /// Word-piece ids of `text`, without `[CLS]`/`[SEP]` and without truncation.
    public func pieceIDs(_ text: String) -> [Int32] {
        var out: [Int32] = []
        for segment in splitSpecials(text) {
            switch segment {
            case .special(let id):
                out.append(id)
            case .text(let s):
                for word in basic.tokenize(s) { wordPiece.ids(forWord: word, into: &out) }
            }
        }
        return out
    }

    /// Word-piece strings of `text` (for inspection and docs).
    public func pieces(_ text: String) -> [String] {
        pieceIDs(text).map { vocabulary.tokens[Int($0)] }
    }

    /// `[CLS] pieces [SEP]`, the pieces cut to `maxTokens - 2`.
    ///
    /// - Parameters:
    ///   - maxTokens: the most ids returned, `[CLS]` and `[SEP]` included (>= 2).
    ///   - allowEmpty: when false (the default), a prompt with no word piece
    ///     (empty, whitespace or control characters only) is an error; when
    ///     true it gives `[CLS] [SEP]` (the unconditional "empty text").
    public func encode(_ text: String, maxTokens: Int, allowEmpty: Bool = false) throws -> TokenizedText {
        guard maxTokens >= 2 else {
            throw MuseError("text encoder: max_tokens must be at least 2 ([CLS] and [SEP]), got \(maxTokens)")
        }
        let pieces = pieceIDs(text)
        if pieces.isEmpty && !allowEmpty {
            let what = text.isEmpty ? "empty" : "only whitespace or control characters"
            throw MuseError("text encoder: the prompt is \(what); give some text to encode")
        }
        let keep = min(pieces.count, maxTokens - 2)
        return TokenizedText(ids: [clsID] + pieces[0..<keep] + [sepID],
                             untruncatedPieces: pieces.count, truncated: keep < pieces.count)
    }

    private enum Segment { case text(String), special(Int32) }

    /// Splits out verbatim special tokens (leftmost, longest match).
    private func splitSpecials(_ text: String) -> [Segment] {
        let s = Array(text.unicodeScalars)
        guard s.contains("[") else { return [.text(text)] }
        var out: [Segment] = []
        var cur = String.UnicodeScalarView()
        var i = 0
        outer: while i < s.count {
            if s[i] == "[" {
                for sp in specials where i + sp.token.count <= s.count {
                    if Array(s[i..<(i + sp.token.count)]) == sp.token {
                        if !cur.isEmpty { out.append(.text(String(cur))); cur = String.UnicodeScalarView() }
                        out.append(.special(sp.id))
                        i += sp.token.count
                        continue outer
                    }
                }
            }
            cur.append(s[i])
            i += 1
        }
        if !cur.isEmpty { out.append(.text(String(cur))) }
        return out
    }
}
