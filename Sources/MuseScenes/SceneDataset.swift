import Foundation
import MuseCore

/// On-disk scene sets (docs/data.md "Scenes"):
///
///     DIR/dataset.json     {"kind": "scenes", "version": 1, "count", "seed", "split", "sizes": [128, 64], ...}
///     DIR/manifest.jsonl   one JSON object per scene, in index order (see `manifestLine`)
///     DIR/128/NNNNNN.png   the 128-px render (8-bit RGB)
///     DIR/64/NNNNNN.png    the same scene area-averaged to 64 px
///     DIR/prompts.txt      (eval sets) one caption per line, the eval prompt set
public enum SceneDataset {
    public static let version = 1

    /// The file name of scene `index` (inside `128/` and `64/`).
    public static func fileName(_ index: Int) -> String { String(format: "%06d.png", index) }

    /// One manifest record (a JSON object) for a scene:
    /// `index`, `file`, `split`, `caption` (as generated), `captions` (every equivalent
    /// wording, see `SceneCaption.variants`), `background` (name of the rendered one),
    /// `objects` ([{"colour", "shape", "box": [x, y, side]}], 128-px units, y down).
    public static func record(_ scene: Scene, index: Int, split: SceneSplit) -> [String: Any] {
        [
            "index": index, "file": fileName(index), "split": split.rawValue,
            "caption": scene.caption.text, "captions": scene.caption.variants,
            "background": SceneColours.backgrounds[scene.background].name,
            "objects": scene.objects.map { o -> [String: Any] in
                ["colour": o.pair.colourName, "shape": o.pair.shape.rawValue, "box": [o.x, o.y, o.side]]
            },
        ]
    }

    /// A scene back from a manifest record.
    public static func scene(from r: [String: Any], source: String) throws -> Scene {
        guard let caption = r["caption"] as? String, let bgName = r["background"] as? String,
              let bg = SceneColours.backgroundIndex(bgName), let objs = r["objects"] as? [[String: Any]] else {
            throw MuseError("\(source): scene record lacks caption/background/objects")
        }
        let objects: [SceneObject] = try objs.map { o in
            guard let cn = o["colour"] as? String, let c = SceneColours.objectIndex(cn),
                  let sn = o["shape"] as? String, let s = SceneShape(rawValue: sn),
                  let box = o["box"] as? [Double], box.count == 3 else {
                throw MuseError("\(source): malformed object \(o)")
            }
            return SceneObject(pair: ColourShape(colour: c, shape: s), x: box[0], y: box[1], side: box[2])
        }
        return Scene(background: bg, objects: objects, caption: try SceneCaption(parsing: caption))
    }

    /// A JSON object as one line with sorted keys (deterministic bytes).
    public static func jsonLine(_ object: Any) throws -> String {
        let d = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
        return String(decoding: d, as: UTF8.self)
    }

    /// Reads a JSON-lines file into objects; errors name the file and line.
    public static func readJSONLines(_ url: URL) throws -> [[String: Any]] {
        let text: String
        do { text = try String(contentsOf: url, encoding: .utf8) } catch {
            throw MuseError("\(url.path): cannot read (\(error.localizedDescription))")
        }
        var out: [[String: Any]] = []
        for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: true).enumerated() {
            guard let obj = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
                throw MuseError("\(url.path):\(n + 1): not a JSON object")
            }
            out.append(obj)
        }
        return out
    }

    /// Renders and writes `count` scenes of `generator` to `dir`; `progress(done)` after each.
    public static func write(to dir: URL, count: Int, generator: SceneGenerator, renderer: SceneRenderer = SceneRenderer(),
                             progress: ((Int) -> Void)? = nil) throws {
        let fm = FileManager.default
        for sub in ["128", "64"] {
            do { try fm.createDirectory(at: dir.appendingPathComponent(sub), withIntermediateDirectories: true) } catch {
                throw MuseError("\(dir.path): cannot create output folder (\(error.localizedDescription))")
            }
        }
        var lines: [String] = []
        var prompts: [String] = []
        for i in 0..<count {
            let scene = generator.scene(i)
            let img = renderer.render128(scene)
            try PNGCodec.write(img, to: dir.appendingPathComponent("128/\(fileName(i))"))
            try PNGCodec.write(SceneRenderer.downsample64(img), to: dir.appendingPathComponent("64/\(fileName(i))"))
            lines.append(try jsonLine(record(scene, index: i, split: generator.split)))
            prompts.append(scene.caption.text)
            progress?(i + 1)
        }
        try writeText(lines.joined(separator: "\n") + "\n", to: dir.appendingPathComponent("manifest.jsonl"))
        if generator.split == .eval {
            try writeText(prompts.joined(separator: "\n") + "\n", to: dir.appendingPathComponent("prompts.txt"))
        }
        let info: [String: Any] = [
            "kind": "scenes", "version": version, "count": count, "seed": String(generator.seed),
            "split": generator.split.rawValue, "sizes": [128, 64], "manifest": "manifest.jsonl",
            "supersample": renderer.supersample, "spec": "SCENES.md v1",
            "held_out_pairs": ColourShape.heldOut.map { $0.description },
        ]
        try writeText(try jsonLine(info) + "\n", to: dir.appendingPathComponent("dataset.json"))
    }

    static func writeText(_ s: String, to url: URL) throws {
        do { try Data(s.utf8).write(to: url, options: .atomic) } catch {
            throw MuseError("\(url.path): cannot write (\(error.localizedDescription))")
        }
    }
}
