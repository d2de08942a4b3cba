import Foundation

/// BERT's "basic" tokenizer: cleans the text and splits it into words and
/// punctuation marks before WordPiece sees it.
///
/// Matches HuggingFace `transformers` `BasicTokenizer` (tokenization_bert.py,
/// 4.x) with `do_lower_case=True`, `tokenize_chinese_chars=True`,
/// `strip_accents=None` (accents are stripped because lower-casing is on) and
/// `do_split_on_punc=True`, step by step:
///
/// 1. `_clean_text`: drop U+0000, U+FFFD and control characters (general
///    category C*, except tab, newline and carriage return); turn whitespace
///    (space, tab, newline, carriage return, category Zs) into a space.
/// 2. `_tokenize_chinese_chars`: put spaces around every CJK ideograph
///    (the code-point blocks BERT lists, see `isChineseChar`).
/// 3. NFC-normalise the text.
/// 4. Split on whitespace (Python's `str.split()`, which also splits on
///    U+2028 / U+2029 that step 1 leaves in place).
/// 5. Per word: lower-case (Python's `str.lower()` per character: full
///    Unicode lower-case mappings; the raw text was already lower-cased the
///    same way before step 1, as `PreTrainedTokenizer.tokenize` does), then
///    strip accents (NFD, drop category Mn).
/// 6. `_run_split_on_punc`: every punctuation character (category P*, or the
///    ASCII ranges 33-47, 58-64, 91-96, 123-126) becomes its own token.
///
/// Differences that remain: the Unicode tables are Swift's, not the Python
/// reference's (`unicodedata` 14.0 in Python 3.11), so characters assigned
/// after Unicode 14 (category Cn there, hence dropped as "control") are kept
/// here and become `[UNK]`.
public struct BasicTokenizer: Sendable {
    public init() {}

    /// Splits `text` into lower-cased, accent-stripped words and punctuation marks.
    public func tokenize(_ text: String) -> [String] {
        // `PreTrainedTokenizer.tokenize` lower-cases the raw text first (one
        // character at a time); the basic tokenizer lower-cases each word again
        // after NFC.
        var cleaned = String.UnicodeScalarView()
        for s in BasicTokenizer.pythonLower(text.unicodeScalars) {
            let v = s.value
            if v == 0 || v == 0xFFFD || BasicTokenizer.isControl(s) { continue }
            if BasicTokenizer.isWhitespace(s) {
                cleaned.append(" ")
            } else if BasicTokenizer.isChineseChar(v) {
                cleaned.append(" "); cleaned.append(s); cleaned.append(" ")
            } else {
                cleaned.append(s)
            }
        }
        let nfc = String(cleaned).precomposedStringWithCanonicalMapping
        var out: [String] = []
        for word in BasicTokenizer.splitPythonWhitespace(Array(nfc.unicodeScalars)) {
            let lowered = BasicTokenizer.pythonLower(word)
            let stripped = BasicTokenizer.stripAccents(lowered)
            BasicTokenizer.splitOnPunctuation(stripped, into: &out)
        }
        return out
    }

    // MARK: - Character classes (tokenization_bert.py's helpers)

    /// `_is_whitespace`: space, tab, newline, carriage return, or category Zs.
    public static func isWhitespace(_ s: Unicode.Scalar) -> Bool {
        switch s.value {
        case 0x20, 0x09, 0x0A, 0x0D: return true
        default: return s.properties.generalCategory == .spaceSeparator
        }
    }

    /// `_is_control`: category C* (Cc, Cf, Cs, Co, Cn), except tab, newline, CR.
    public static func isControl(_ s: Unicode.Scalar) -> Bool {
        switch s.value {
        case 0x09, 0x0A, 0x0D: return false
        default: break
        }
        switch s.properties.generalCategory {
        case .control, .format, .surrogate, .privateUse, .unassigned: return true
        default: return false
        }
    }

    /// `_is_punctuation`: category P*, or the ASCII non-alphanumeric ranges
    /// (so `$`, `+`, `<`, `^`, `` ` ``, `|`, `~` count although they are S*).
    public static func isPunctuation(_ s: Unicode.Scalar) -> Bool {
        let v = s.value
        if (33...47).contains(v) || (58...64).contains(v) || (91...96).contains(v) || (123...126).contains(v) {
            return true
        }
        switch s.properties.generalCategory {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
             .initialPunctuation, .finalPunctuation, .otherPunctuation:
            return true
        default:
            return false
        }
    }

    /// `_is_chinese_char`: the CJK Unified Ideographs blocks (and extensions
    /// A-E, compatibility ideographs) exactly as BERT lists them.
    public static func isChineseChar(_ v: UInt32) -> Bool {
        (0x4E00...0x9FFF).contains(v) || (0x3400...0x4DBF).contains(v)
            || (0x20000...0x2A6DF).contains(v) || (0x2A700...0x2B73F).contains(v)
            || (0x2B740...0x2B81F).contains(v) || (0x2B820...0x2CEAF).contains(v)
            || (0xF900...0xFAFF).contains(v) || (0x2F800...0x2FA1F).contains(v)
    }

    /// Python's `str.isspace()` for what can be left after cleaning: Zs, or
    /// bidirectional class WS, B or S (U+2028, U+2029, U+001C-U+001F, U+0085...).
    static func isPythonSpace(_ s: Unicode.Scalar) -> Bool {
        switch s.value {
        case 0x09...0x0D, 0x1C...0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000:
            return true
        default:
            return s.properties.generalCategory == .spaceSeparator
        }
    }

    /// `str.split()` with no argument: runs of whitespace separate words.
    static func splitPythonWhitespace(_ scalars: [Unicode.Scalar]) -> [[Unicode.Scalar]] {
        var words: [[Unicode.Scalar]] = []
        var cur: [Unicode.Scalar] = []
        for s in scalars {
            if isPythonSpace(s) {
                if !cur.isEmpty { words.append(cur); cur.removeAll(keepingCapacity: true) }
            } else {
                cur.append(s)
            }
        }
        if !cur.isEmpty { words.append(cur) }
        return words
    }

    /// Python's `str.lower()` applied one character at a time (each scalar's
    /// full lower-case mapping, so U+0130 becomes "i" + U+0307). The reference
    /// lower-cases the text character by character in
    /// `PreTrainedTokenizer.tokenize` (its regex matches one character per
    /// call), so CPython's context-dependent final sigma never applies: capital
    /// sigma always becomes U+03C3.
    static func pythonLower<C: Collection>(_ word: C) -> [Unicode.Scalar] where C.Element == Unicode.Scalar {
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(word.count)
        for s in word {
            if s.value < 0x80 {
                out.append((0x41...0x5A).contains(s.value) ? Unicode.Scalar(s.value + 32)! : s)
                continue
            }
            let mapped = s.properties.lowercaseMapping.unicodeScalars
            if mapped.count == 1 && mapped.first == s {
                out.append(s)
            } else {
                out.append(contentsOf: mapped)
            }
        }
        return out
    }

    /// `_run_strip_accents`: NFD, then drop every nonspacing mark (category Mn).
    static func stripAccents(_ word: [Unicode.Scalar]) -> [Unicode.Scalar] {
        // Fast path: ASCII has nothing to decompose.
        if word.allSatisfy({ $0.value < 0x80 }) { return word }
        var view = String.UnicodeScalarView()
        view.append(contentsOf: word)
        let nfd = String(view).decomposedStringWithCanonicalMapping
        return nfd.unicodeScalars.filter { $0.properties.generalCategory != .nonspacingMark }
    }

    /// `_run_split_on_punc`: each punctuation character is a token of its own;
    /// the runs between them are tokens too.
    static func splitOnPunctuation(_ word: [Unicode.Scalar], into out: inout [String]) {
        var cur = String.UnicodeScalarView()
        for s in word {
            if isPunctuation(s) {
                if !cur.isEmpty { out.append(String(cur)); cur = String.UnicodeScalarView() }
                out.append(String(s))
            } else {
                cur.append(s)
            }
        }
        if !cur.isEmpty { out.append(String(cur)) }
    }
}
