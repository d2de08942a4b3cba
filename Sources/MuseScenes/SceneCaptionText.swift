import Foundation
import MuseCore

/// Caption grammar (SCENES.md "Scenes and captions"), both ways.
///
///     caption    := group [ " " relation " " group ] [ " on a " background " background" ]
///     group      := number " " colour " " shape["s"]
///     number     := "a" | "an" | "two" | "three" | "four"   ("an" before a vowel-initial colour)
///     relation   := "to the left of" | "to the right of" | "above" | "below"
///
/// One-group captions take n in 1...4; each group of a two-group caption takes n in 1...2
/// (the parser accepts 1...4 everywhere, so it can read prompts of any count).
extension SceneCaption {
    static let numberWords = ["two": 2, "three": 3, "four": 4]

    /// The number word for `n` before `colour` (`a`, `an`, `two`, ...).
    public static func numberWord(_ n: Int, before colour: String) -> String {
        switch n {
        case 1: return "aeiou".contains(colour.first ?? "x") ? "an" : "a"
        case 2: return "two"
        case 3: return "three"
        case 4: return "four"
        default: preconditionFailure("group counts are 1...4")
        }
    }

    /// `three blue stars`, `an orange star`.
    public static func text(of g: SceneGroup) -> String {
        let colour = g.pair.colourName
        return "\(numberWord(g.count, before: colour)) \(colour) \(g.count == 1 ? g.pair.shape.rawValue : g.pair.shape.plural)"
    }

    /// The caption as text (lower case, no final full stop).
    public var text: String {
        var s = SceneCaption.text(of: groups[0])
        if groups.count == 2, let r = relation { s += " \(r.rawValue) \(SceneCaption.text(of: groups[1]))" }
        if let b = background { s += " on a \(SceneColours.backgrounds[b].name) background" }
        return s
    }

    /// The same meaning said the other way round (`B {inverse relation} A`); nil for one group.
    public var mirrored: SceneCaption? {
        guard groups.count == 2, let r = relation else { return nil }
        return SceneCaption(groups: [groups[1], groups[0]], relation: r.inverse, background: background)
    }

    /// Every caption text that describes a scene made for this caption exactly:
    /// as written, mirrored (two groups), and each of those without the background
    /// phrase (a caption without it allows any background). The first is `text`.
    public var variants: [String] {
        var metas = [self]
        if let m = mirrored { metas.append(m) }
        var out: [String] = []
        for m in metas { out.append(m.text) }
        if background != nil {
            for var m in metas { m.background = nil; out.append(m.text) }
        }
        return out
    }

    /// Parses a caption of the grammar above. Throws a `MuseError` saying what is wrong.
    public init(parsing caption: String) throws {
        var words = caption.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
        func fail(_ why: String) -> MuseError { MuseError("caption \"\(caption)\": \(why)") }
        guard !words.isEmpty, !words.contains("") else { throw fail("empty words (check the spaces)") }
        var background: Int? = nil
        // " on a {background} background" (the background may be two words: light blue).
        if let on = words.lastIndex(of: "on"), words.last == "background", on + 2 < words.count, words[on + 1] == "a" {
            let name = words[(on + 2)..<(words.count - 1)].joined(separator: " ")
            guard let b = SceneColours.backgroundIndex(name) else { throw fail("unknown background '\(name)'") }
            background = b
            words.removeSubrange(on...)
        }
        var pos = 0
        func group() throws -> SceneGroup {
            guard pos + 3 <= words.count else { throw fail("expected '{number} {colour} {shape}'") }
            let (nw, cw, sw) = (words[pos], words[pos + 1], words[pos + 2])
            pos += 3
            guard let c = SceneColours.objectIndex(cw) else { throw fail("unknown colour '\(cw)'") }
            let n: Int
            if nw == "a" || nw == "an" { n = 1 } else if let k = SceneCaption.numberWords[nw] { n = k } else {
                throw fail("unknown number word '\(nw)'")
            }
            guard n != 1 || nw == SceneCaption.numberWord(1, before: cw) else {
                throw fail("'\(nw) \(cw)' should be '\(SceneCaption.numberWord(1, before: cw)) \(cw)'")
            }
            let shape: SceneShape?
            if n == 1 { shape = SceneShape(rawValue: sw) } else { shape = SceneShape.allCases.first { $0.plural == sw } }
            guard let s = shape else {
                throw fail("'\(sw)' is not a \(n == 1 ? "singular" : "plural") shape (circle, square, triangle, star)")
            }
            return SceneGroup(pair: ColourShape(colour: c, shape: s), count: n)
        }
        let a = try group()
        if pos == words.count {
            self.init(groups: [a], relation: nil, background: background)
            return
        }
        var relation: SceneRelation? = nil
        for r in SceneRelation.allCases {
            let rw = r.rawValue.split(separator: " ").map(String.init)
            if pos + rw.count <= words.count && Array(words[pos..<(pos + rw.count)]) == rw {
                relation = r; pos += rw.count; break
            }
        }
        guard let rel = relation else { throw fail("expected a relation after '\(SceneCaption.text(of: a))'") }
        let b = try group()
        guard pos == words.count else { throw fail("unexpected words after the second group") }
        guard a.pair != b.pair else { throw fail("the two groups must differ in colour or shape") }
        self.init(groups: [a, b], relation: rel, background: background)
    }
}
