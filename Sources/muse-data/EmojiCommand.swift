import ArgumentParser
import Foundation
import MuseCore
import MuseEmoji

struct EmojiCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "emoji",
        abstract: "Build the Noto Color Emoji data set (images at 128 and 64 px, names, keywords, split).",
        discussion: """
        Reads the colour bitmaps (CBLC/CBDT) of NotoColorEmoji.ttf, maps each glyph to its codepoint \
        sequence through cmap and GSUB ligatures, names it from emoji-test.txt and adds CLDR keywords. \
        Images are composited onto white, padded to a white square and area-resized. Writes \
        OUT/128/<codepoints>.png, OUT/64/<codepoints>.png, OUT/manifest.jsonl and OUT/dataset.json. \
        The inputs come from Debian packages fonts-noto-color-emoji, unicode-data and unicode-cldr-core \
        (scripts/setup-data.sh installs them). Output is byte-for-byte deterministic.
        """)

    @Option(name: .long, help: "Output folder (created if missing).")
    var out: String
    @Option(name: .long, help: "NotoColorEmoji.ttf (from fonts-noto-color-emoji).")
    var font: String = EmojiDataset.defaultFont
    @Option(name: .long, help: "emoji-test.txt (from unicode-data).")
    var emojiTest: String = EmojiDataset.defaultEmojiTest
    @Option(name: .long, help: "CLDR annotations/en.xml (from unicode-cldr-core).")
    var annotations: String = EmojiDataset.defaultAnnotations
    @Option(name: .long, help: "CLDR annotationsDerived/en.xml (from unicode-cldr-core).")
    var derivedAnnotations: String = EmojiDataset.defaultDerivedAnnotations
    @Flag(name: .long, help: "Only map glyphs and print the statistics; write nothing.")
    var dryRun = false

    func run() throws {
        var inputs = EmojiBuilder.Inputs()
        inputs.font = font; inputs.emojiTest = emojiTest; inputs.annotations = [annotations, derivedAnnotations]
        let builder = try EmojiBuilder(inputs: inputs)
        print(builder.stats.description)
        if dryRun { return }
        let progress = TerminalProgress().counter("emoji", total: builder.items.count)
        try builder.write(to: URL(fileURLWithPath: out)) { progress($0) }
        let eval = builder.items.filter { $0.split == "eval" }.count
        print("wrote \(builder.items.count) captioned emoji to \(out) (train \(builder.items.count - eval), eval \(eval))")
    }
}

