/// Noto Color Emoji data set builder (docs/data.md "Emoji").
///
/// - `SFNTFont`: the sfnt table directory and bounds-checked big-endian reads.
/// - `ColorBitmaps`: CBLC/CBDT colour bitmap strikes (PNG glyph data, formats 17/18/19).
/// - `CharacterMap`: cmap formats 4, 12 and 14.
/// - `LigatureMap`: GSUB ligature substitutions (lookup type 4, also inside type 7).
/// - `EmojiTest`, `CLDRAnnotations`: names and keywords.
/// - `EmojiBuilder`: glyph -> codepoint sequence -> caption, images, manifest, split.
/// - `SHA256`: the split rule's hash.
public enum EmojiDataset {
    /// Where Debian's packages put the inputs.
    public static let defaultFont = "/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf"
    public static let defaultEmojiTest = "/usr/share/unicode/emoji/emoji-test.txt"
    public static let defaultAnnotations = "/usr/share/unicode/cldr/common/annotations/en.xml"
    public static let defaultDerivedAnnotations = "/usr/share/unicode/cldr/common/annotationsDerived/en.xml"
    /// Debian package that ships each default input (for error messages).
    public static func package(for path: String) -> String {
        if path.hasSuffix(".ttf") { return "fonts-noto-color-emoji" }
        if path.contains("/unicode/emoji/") { return "unicode-data" }
        return "unicode-cldr-core"
    }
}
