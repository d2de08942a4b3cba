import ArgumentParser
import Foundation
import MuseCore
import MuseData
import MuseEmoji

struct ContactSheetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "contact-sheet",
        abstract: "Write a PNG grid of a data set's images with their captions.",
        discussion: """
        Works on any data set written by muse-data (emoji or scenes). Takes the first --count items of \
        the manifest, or a seeded random sample with --sample-seed. Each cell shows the image and its \
        first caption (non-ASCII letters are folded to ASCII for the bitmap font).
        """)

    @Option(name: .long, help: "Data set folder (with dataset.json and manifest.jsonl).")
    var data: String
    @Option(name: .long, help: "Output PNG.")
    var out: String
    @Option(name: .long, help: "Number of images (at least 1).")
    var count: Int = 48
    @Option(name: .long, help: "Columns of the grid (1...64).")
    var columns: Int = 8
    @Option(name: .long, help: "Which images to show: 128 or 64 px.")
    var size: Int = 128
    @Option(name: .long, help: "Cell size in pixels, 16...2048 (images are scaled to fit).")
    var cell: Int = 128
    @Option(name: .long, help: "Only items of this split (train or eval).")
    var split: String?
    @Option(name: .long, help: "Draw a random sample with this seed instead of the first items.")
    var sampleSeed: UInt64?
    @Option(name: .long, help: "Caption lines under each image (1...10).")
    var labelLines: Int = 3

    func validate() throws {
        guard count >= 1 else { throw ValidationError("--count must be at least 1, not \(count)") }
        guard columns >= 1, columns <= 64 else { throw ValidationError("--columns must be in 1...64, not \(columns)") }
        guard cell >= 16, cell <= 2048 else { throw ValidationError("--cell must be in 16...2048 pixels, not \(cell)") }
        guard labelLines >= 1, labelLines <= 10 else { throw ValidationError("--label-lines must be in 1...10, not \(labelLines)") }
        guard size == 128 || size == 64 else { throw ValidationError("--size must be 128 or 64") }
    }

    func run() throws {
        let ds = try DataSet(root: URL(fileURLWithPath: data), split: split)
        guard !ds.items.isEmpty else { throw MuseError("\(data): no items\(split.map { " in split \($0)" } ?? "")") }
        var picked = Array(ds.items.indices)
        if let s = sampleSeed {
            var rng = SeededRNG(seed: s)
            rng.shuffle(&picked)
        }
        picked = Array(picked.prefix(count))
        var images: [Image] = [], labels: [String] = []
        let progress = TerminalProgress().counter("contact-sheet", total: picked.count)
        for (k, i) in picked.enumerated() {
            images.append(try ds.image(ds.items[i], size: size))
            labels.append(ascii(ds.items[i].captions[0]))
            progress(k + 1)
        }
        let sheet = ImageGrid.make(images: images, labels: labels, columns: min(columns, images.count), cellSize: cell,
                                   labelLines: labelLines, title: "\(ds.kind): \(ds.root.lastPathComponent) (\(images.count) of \(ds.items.count), \(size) px)")
        try PNGCodec.write(sheet, to: URL(fileURLWithPath: out))
        print("wrote \(out) (\(sheet.width)x\(sheet.height), \(images.count) images)")
    }

    /// The caption with diacritics folded and other non-ASCII characters replaced.
    func ascii(_ s: String) -> String {
        let folded = s.folding(options: [.diacriticInsensitive], locale: Locale(identifier: "en_US"))
            .replacingOccurrences(of: "\u{2019}", with: "'").replacingOccurrences(of: "\u{201C}", with: "\"")
            .replacingOccurrences(of: "\u{201D}", with: "\"")
        return String(folded.unicodeScalars.map { $0.isASCII ? Character($0) : "?" })
    }
}
