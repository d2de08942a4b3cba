import ArgumentParser
import Foundation
import MuseCore
import MuseScenes

struct ScoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "score",
        abstract: "Score images against scene captions (exact match, colour, shape, count, relation, background).",
        discussion: """
        Three ways to name the pairs:
          --images DIR            a scene set written by `muse-data scenes` (or any folder with a \
        manifest.jsonl whose lines hold "file" and "caption"); images are read from DIR/<size>/<file>, \
        or DIR/<file> when there is no size folder.
          --pairs FILE.jsonl      lines {"file": "x.png", "caption": "..."}; files relative to FILE's folder.
          --image X.png --caption "..."   one pair.
        Prints the tally, and with --verbose each pair's verdict and the objects found.
        """)

    @Option(name: .long, help: "A folder with manifest.jsonl (scene set, or generated images with their captions).")
    var images: String?
    @Option(name: .long, help: "JSON-lines file of {\"file\", \"caption\"} pairs.")
    var pairs: String?
    @Option(name: .long, help: "A single image to score (with --caption).")
    var image: String?
    @Option(name: .long, help: "The caption for --image.")
    var caption: String?
    @Option(name: .long, help: "With --images: which size folder to read (128 or 64).")
    var size: Int = 128
    @Flag(name: .long, help: "Print every pair's verdict and the objects found.")
    var verbose = false

    func validate() throws {
        let n = [images != nil, pairs != nil, image != nil].filter { $0 }.count
        guard n == 1 else { throw ValidationError("give exactly one of --images, --pairs, --image") }
        guard (image == nil) == (caption == nil) else { throw ValidationError("--image and --caption go together") }
        guard size == 128 || size == 64 else { throw ValidationError("--size must be 128 or 64") }
    }

    func run() throws {
        var list: [(URL, String)] = []
        if let dir = images {
            let base = URL(fileURLWithPath: dir)
            let sized = base.appendingPathComponent(String(size))
            let folder = FileManager.default.fileExists(atPath: sized.path) ? sized : base
            for r in try SceneDataset.readJSONLines(base.appendingPathComponent("manifest.jsonl")) {
                guard let f = r["file"] as? String, let c = r["caption"] as? String else {
                    throw MuseError("\(base.path)/manifest.jsonl: a line lacks \"file\" or \"caption\"")
                }
                list.append((folder.appendingPathComponent(f), c))
            }
        } else if let p = pairs {
            let url = URL(fileURLWithPath: p)
            for r in try SceneDataset.readJSONLines(url) {
                guard let f = r["file"] as? String, let c = r["caption"] as? String else {
                    throw MuseError("\(p): a line lacks \"file\" or \"caption\"")
                }
                list.append((f.hasPrefix("/") ? URL(fileURLWithPath: f) : url.deletingLastPathComponent().appendingPathComponent(f), c))
            }
        } else if let i = image, let c = caption {
            list.append((URL(fileURLWithPath: i), c))
        }
        let scorer = SceneScorer()
        var tally = ScoreTally()
        let progress = TerminalProgress().counter("score", total: list.count)
        for (k, (url, text)) in list.enumerated() {
            let cap = try SceneCaption(parsing: text)
            let parsed = scorer.parse(try PNGCodec.read(url))
            let s = SceneScorer.score(parsed, against: cap)
            tally.add(s)
            if verbose || list.count == 1 {
                let found = parsed.objects.map { "\($0.pair) (\(Int($0.centre.x.rounded())),\(Int($0.centre.y.rounded())))" }
                print("\(s.exact ? "PASS" : "FAIL") \(url.lastPathComponent): \"\(text)\" | background \(SceneColours.backgrounds[parsed.background].name) | \(found.joined(separator: ", "))")
            }
            if list.count > 1 { progress(k + 1) }
        }
        print(tally.description)
    }
}
