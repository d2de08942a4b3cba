import Foundation
import MuseCore

/// A BERT vocabulary (`vocab.txt`: one token a line, the id is the line number).
///
/// Tokens are compared by their exact Unicode scalars (as Python compares
/// strings), not by Swift's canonical equivalence, so "é" precomposed and "e"
/// + U+0301 stay different tokens, as in the reference.
public struct Vocabulary: Sendable {
    /// A token's exact scalar sequence, hashed and compared as UTF-8 bytes.
    struct Key: Hashable, Sendable {
        let bytes: [UInt8]
        init(_ s: String) { bytes = Array(s.utf8) }
        init<S: Sequence>(scalars: S) where S.Element == Unicode.Scalar {
            var b: [UInt8] = []
            for s in scalars { b.append(contentsOf: UTF8.encode(s)!) }
            bytes = b
        }
    }

    private let ids: [Key: Int32]
    /// The tokens by id.
    public let tokens: [String]

    public var count: Int { tokens.count }

    /// Reads `vocab.txt` as `load_vocab` does: each line minus its trailing
    /// newline is a token; a token listed twice keeps its last id.
    public init(contentsOf url: URL) throws {
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw MuseError("text encoder: vocabulary file not found: \(url.path) (run scripts/fetch-text-encoder.sh to fetch the model)")
        }
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw MuseError("text encoder: cannot read vocabulary file \(url.path): \(error.localizedDescription)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw MuseError("text encoder: vocabulary file \(url.path) is not UTF-8")
        }
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if lines.last == "" { lines.removeLast() }
        try self.init(tokens: lines, source: url.path)
    }

    public init(tokens: [String], source: String = "vocabulary") throws {
        guard !tokens.isEmpty else { throw MuseError("text encoder: \(source) is empty") }
        var ids: [Key: Int32] = [:]
        ids.reserveCapacity(tokens.count)
        for (i, t) in tokens.enumerated() { ids[Key(t)] = Int32(i) }
        self.ids = ids
        self.tokens = tokens
    }

    /// The id of `token`, or nil.
    public func id(_ token: String) -> Int32? { ids[Key(token)] }
    func id(_ key: Key) -> Int32? { ids[key] }

    /// The id of a special token, or a clear error naming the file.
    public func requireID(_ token: String) throws -> Int32 {
        guard let i = id(token) else { throw MuseError("text encoder: vocabulary has no \(token) token") }
        return i
    }
}

/// Greedy longest-match-first WordPiece, as `transformers` `WordpieceTokenizer`:
/// a word is cut into the longest vocabulary prefix, then the longest `##`
/// continuation, and so on; a word that cannot be covered, or that has more
/// than `maxInputCharsPerWord` code points, becomes a single `[UNK]`.
public struct WordPieceTokenizer: Sendable {
    public let vocabulary: Vocabulary
    public let unknownID: Int32
    public let maxInputCharsPerWord: Int

    public init(vocabulary: Vocabulary, unknownToken: String = "[UNK]", maxInputCharsPerWord: Int = 100) throws {
        self.vocabulary = vocabulary
        self.unknownID = try vocabulary.requireID(unknownToken)
        self.maxInputCharsPerWord = maxInputCharsPerWord
    }

    /// Ids of the word pieces of one word (no whitespace inside).
    public func ids(forWord word: String, into out: inout [Int32]) {
        let chars = Array(word.unicodeScalars)
        if chars.count > maxInputCharsPerWord { out.append(unknownID); return }
        var pieces: [Int32] = []
        var start = 0
        while start < chars.count {
            var end = chars.count
            var found: Int32? = nil
            while start < end {
                let key: Vocabulary.Key
                if start > 0 {
                    key = Vocabulary.Key(scalars: ["#", "#"] + chars[start..<end])
                } else {
                    key = Vocabulary.Key(scalars: chars[start..<end])
                }
                if let id = vocabulary.id(key) { found = id; break }
                end -= 1
            }
            guard let id = found else { out.append(unknownID); return }
            pieces.append(id)
            start = end
        }
        out.append(contentsOf: pieces)
    }
}
