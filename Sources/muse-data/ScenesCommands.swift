import ArgumentParser
import Foundation
import MuseCore
import MuseScenes

extension SceneSplit: ExpressibleByArgument {}

struct ScenesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scenes",
        abstract: "Render a procedural scene set (SCENES.md): 128 and 64 px PNGs, a manifest with captions and object boxes.",
        discussion: """
        Writes DIR/128/NNNNNN.png, DIR/64/NNNNNN.png, DIR/manifest.jsonl (one JSON object per scene: file, \
        caption, captions, background, objects with colour/shape/box) and DIR/dataset.json; eval sets also \
        get DIR/prompts.txt. Scene i depends only on (seed, split, i). Training sets never contain the \
        held-out pairs (purple star, orange square, green circle, pink triangle); in eval sets half the \
        scenes contain one.
        """)

    @Option(name: .long, help: "Output folder (created if missing).")
    var out: String
    @Option(name: .long, help: "Number of scenes.")
    var count: Int
    @Option(name: .long, help: "Seed (any 64-bit unsigned integer).")
    var seed: UInt64
    @Option(name: .long, help: "train (no held-out pairs) or eval (held-out pairs included).")
    var split: SceneSplit = .train
    @Option(name: .long, help: "Supersampling per axis when rendering (at least 4).")
    var supersample: Int = 4

    func validate() throws {
        guard count > 0 else { throw ValidationError("--count must be positive") }
        guard supersample >= 4 else { throw ValidationError("--supersample must be at least 4 (SCENES.md)") }
    }

    func run() throws {
        let progress = TerminalProgress().counter("scenes", total: count)
        try SceneDataset.write(to: URL(fileURLWithPath: out), count: count,
                               generator: SceneGenerator(seed: seed, split: split),
                               renderer: SceneRenderer(supersample: supersample)) { progress($0) }
        print("wrote \(count) \(split.rawValue) scenes to \(out)")
    }
}

struct CheckScorerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-scorer",
        abstract: "Render fresh ground-truth scenes and report how well the scorer reads them back.",
        discussion: """
        Each scene is rendered (in memory) at --size, parsed by the scorer and checked against its own \
        caption. SCENES.md requires at least 99% exact match at 128 and at 64 px. Also reports the \
        background accuracy over all scenes and the mean box error of matched objects.
        """)

    @Option(name: .long, help: "Number of scenes.")
    var count: Int = 2000
    @Option(name: .long, help: "Image size to score: 128 or 64.")
    var size: Int = 128
    @Option(name: .long, help: "Seed of the scene generator.")
    var seed: UInt64 = 20240601
    @Option(name: .long, help: "Split of the generated scenes: train or eval.")
    var split: SceneSplit = .eval
    @Option(name: .long, help: "Print up to this many failing scenes.")
    var showFailures: Int = 5

    func validate() throws {
        guard size == 128 || size == 64 else { throw ValidationError("--size must be 128 or 64") }
        guard count > 0 else { throw ValidationError("--count must be positive") }
    }

    func run() throws {
        let gen = SceneGenerator(seed: seed, split: split)
        let renderer = SceneRenderer()
        let scorer = SceneScorer()
        var tally = ScoreTally()
        var bgRight = 0, shown = 0
        var boxErr = 0.0, sideErr = 0.0, matched = 0
        let progress = TerminalProgress().counter("check-scorer \(size) px", total: count)
        for i in 0..<count {
            let scene = gen.scene(i)
            let parsed = scorer.parse(renderer.render(scene, size: size))
            let s = SceneScorer.score(parsed, against: scene.caption)
            tally.add(s)
            if parsed.background == scene.background { bgRight += 1 }
            for o in scene.objects {
                if let d = parsed.objects.filter({ $0.pair == o.pair }).min(by: {
                    hypot($0.centre.x - o.centre.x, $0.centre.y - o.centre.y) < hypot($1.centre.x - o.centre.x, $1.centre.y - o.centre.y)
                }) {
                    boxErr += hypot(d.centre.x - o.centre.x, d.centre.y - o.centre.y); sideErr += abs(d.side - o.side); matched += 1
                }
            }
            if !s.exact && shown < showFailures {
                shown += 1
                let found = parsed.objects.map { "\($0.pair) @(\(Int($0.centre.x)),\(Int($0.centre.y))) s=\(String(format: "%.1f", $0.side))" }
                note("FAIL scene \(i): \"\(scene.caption.text)\" -> found [\(found.joined(separator: "; "))]")
            }
            progress(i + 1)
        }
        print("scorer check: \(count) ground-truth scenes at \(size) px (seed \(seed), split \(split.rawValue))")
        print(tally.description)
        print(String(format: "background (all scenes): %.2f%% (%d/%d)", 100 * Double(bgRight) / Double(count), bgRight, count))
        if matched > 0 {
            print(String(format: "box error (128-px units): centre %.3f px, side %.3f px (mean over %d objects)",
                         boxErr / Double(matched), sideErr / Double(matched), matched))
        }
    }
}
