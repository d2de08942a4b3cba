import Foundation
import MuseCore
@testable import MuseHost
import XCTest

/// Running validated pipelines: values, determinism, A/B variants, the CLI.
final class PipelineRunTests: XCTestCase {
    var dir: URL!
    override func setUp() {
        dir = temporaryFolder()
        try! PNGCodec.write(testPicture(), to: dir.appendingPathComponent("in.png"))
    }

    func resolve(_ yaml: String, _ overrides: PipelineOverrides = PipelineOverrides(), variant: String? = nil,
                 plugins: [String] = []) throws -> (ResolvedPipeline, PipelineDocument, PluginRegistry) {
        let file = dir.appendingPathComponent("p.yaml")
        try yaml.write(to: file, atomically: true, encoding: .utf8)
        let registry = try imageOpsRegistry(plugins)
        let doc = try PipelineDocument.load(file)
        return (try PipelineValidator(registry: registry).resolve(doc, overrides: overrides, variant: variant), doc, registry)
    }

    let outpaint = """
    version: 1
    inputs:
      image: {type: image, default: in.png, doc: the picture}
    stages:
      extend:
        kind: image.extend
        config: {left: 4, right: 2, top: 1, bottom: 3, fill: white}
        inputs: {image: input.image}
      save:
        kind: image.save
        config: {path: out/extended.png}
        inputs: {image: extend.image}
    outputs:
      image: save.image
      mask: extend.mask
    """

    func testRunExecutesStagesInOrderWithRealValues() throws {
        let (p, _, _) = try resolve(outpaint)
        XCTAssertEqual(p.stages.map(\.name), ["extend", "save"])
        let result = try PipelineRunner().run(p)
        guard case .image(let img)? = result.outputs.first?.value, case .mask(let m)? = result.values["extend.mask"] else {
            return XCTFail("missing outputs")
        }
        XCTAssertEqual(img.width, 16 + 6); XCTAssertEqual(img.height, 12 + 4)
        // Original pixel (0,0) lands at (4,1); the added area is white and masked.
        let src = try PNGCodec.read(dir.appendingPathComponent("in.png"))
        XCTAssertEqual(Array(img.pixels[img.index(4, 1)..<img.index(4, 1) + 3]), Array(src.pixels[0..<3]))
        XCTAssertEqual(Array(img.pixels[0..<3]), [1, 1, 1])
        XCTAssertEqual(m.values[0], 1)
        XCTAssertEqual(m.values[1 * m.width + 4], 0)
        XCTAssertEqual(m.values.reduce(0, +), Float(22 * 16 - 16 * 12))
        // image.save wrote the same picture (to within 8-bit quantisation).
        let saved = try PNGCodec.read(dir.appendingPathComponent("out/extended.png"))
        XCTAssertEqual(saved.width, img.width)
        XCTAssertEqual(zip(saved.pixels, img.pixels).map { abs($0 - $1) }.max()!, 0, accuracy: 0.5 / 255 + 1e-6)
        XCTAssertEqual(result.timings.map(\.stage), ["extend", "save"])
    }

    func testMaskInputsAndMaskStages() throws {
        // A half-white, half-black picture as a mask: white = 1 = region to generate.
        var p = [Float](repeating: 0, count: 8 * 4 * 3)
        for y in 0..<4 { for x in 4..<8 { for c in 0..<3 { p[(y * 8 + x) * 3 + c] = 1 } } }
        try PNGCodec.write(Image(width: 8, height: 4, channels: 3, pixels: p), to: dir.appendingPathComponent("m.png"))
        let yaml = """
        version: 1
        inputs:
          mask: {type: mask, default: m.png}
        stages:
          loaded: {kind: mask.load, config: {path: m.png, threshold: 0.5}}
          rect: {kind: mask.rect, config: {x: 1, y: 1, width: 2, height: 2, canvas_width: 8, canvas_height: 4}}
          outside: {kind: mask.rect, config: {x: 20, y: 9, width: 2, height: 2, canvas_width: 8, canvas_height: 4}}
        outputs:
          input: input.mask
          loaded: loaded.mask
          rect: rect.mask
          outside: outside.mask
        """
        let (pl, _, _) = try resolve(yaml)
        let r = try PipelineRunner().run(pl)
        guard case .mask(let a) = r.outputs[0].value, case .mask(let b) = r.outputs[1].value,
              case .mask(let c) = r.outputs[2].value else { return XCTFail("outputs are not masks") }
        XCTAssertEqual(a.values, b.values)
        XCTAssertEqual(a.values.reduce(0, +), 16)
        XCTAssertEqual(a.values[7], 1); XCTAssertEqual(a.values[0], 0)
        XCTAssertEqual(c.values.reduce(0, +), 4)
        XCTAssertEqual(c.values[1 * 8 + 1], 1); XCTAssertEqual(c.values[0], 0)
        guard case .mask(let d) = r.outputs[3].value else { return XCTFail("outside is not a mask") }
        XCTAssertEqual(d.values.reduce(0, +), 0, "a rectangle outside the canvas masks nothing")
    }

    func testCommandLineInputOverridesDefault() throws {
        let other = testPicture(width: 10, height: 10)
        let path = dir.appendingPathComponent("other.png").path
        try PNGCodec.write(other, to: URL(fileURLWithPath: path))
        var o = PipelineOverrides()
        o.inputs["image"] = path
        let (p, _, _) = try resolve(outpaint, o)
        guard case .image(let img)? = try PipelineRunner().run(p).outputs.first?.value else { return XCTFail() }
        XCTAssertEqual(img.width, 16)
    }

    func testSetOverridesConfig() throws {
        var o = PipelineOverrides()
        o.sets = ["extend.left=0", "extend.right=0"]
        let (p, _, _) = try resolve(outpaint, o)
        guard case .image(let img)? = try PipelineRunner().run(p).outputs.first?.value else { return XCTFail() }
        XCTAssertEqual(img.width, 16)
    }

    func testWeightsAreResolvedRelativeToThePipeline() throws {
        var w = SafeTensorsWriter()
        try w.add("w", [1, 2, 3.5], shape: [3])
        try w.write(to: dir.appendingPathComponent("weights/sum.safetensors"))
        let yaml = "version: 1\nstages:\n  s: {kind: test.tensor_sum, weights: weights/sum.safetensors}\noutputs:\n  total: s.sum\n"
        let (p, _, _) = try resolve(yaml, plugins: ["libTestPluginWeights.so"])
        guard case .scalar(let v)? = try PipelineRunner().run(p).outputs.first?.value else { return XCTFail() }
        XCTAssertEqual(v, 6.5)
    }

    func testCorruptWeightsFailWithTheFileName() throws {
        try Data("{not safetensors".utf8).write(to: dir.appendingPathComponent("bad.safetensors"))
        let yaml = "version: 1\nstages:\n  s: {kind: test.tensor_sum, weights: bad.safetensors}\n"
        let (p, _, _) = try resolve(yaml, plugins: ["libTestPluginWeights.so"])
        XCTAssertThrowsError(try PipelineRunner().run(p)) { e in
            let msg = "\(e)"
            XCTAssertTrue(msg.contains("stage 's'") && msg.contains("bad.safetensors"), msg)
        }
    }

    let abYAML = """
    version: 1
    inputs:
      image: {type: image, default: in.png}
    stages:
      small: {kind: image.resize, config: {width: 4, height: 3, filter: box}, inputs: {image: input.image}}
      big: {kind: image.resize, config: {width: 32, height: 24, filter: nearest}, inputs: {image: small.image}}
    outputs:
      image: big.image
    variants:
      nearest: {}
      bilinear:
        set: {big.filter: bilinear}
    """

    func testABRunsEveryVariantOnTheSameInputs() throws {
        let file = dir.appendingPathComponent("ab.yaml")
        try abYAML.write(to: file, atomically: true, encoding: .utf8)
        let registry = try imageOpsRegistry()
        let doc = try PipelineDocument.load(file)
        let outcome = try ABRun(document: doc, validator: PipelineValidator(registry: registry),
                                overrides: PipelineOverrides(), progress: SilentProgress()).run()
        let variants = outcome.report["variants"] as! [[String: Any]]
        XCTAssertEqual(variants.map { $0["name"] as! String }, ["nearest", "bilinear"])
        XCTAssertEqual(variants[1]["changes"] as! [String], ["big.filter=bilinear"])
        XCTAssertEqual((variants[0]["timings"] as! [[String: Any]]).count, 2)
        // Two cells side by side: wider than tall, and the two halves differ
        // (nearest and bilinear upscaling of the same 4x3 picture).
        XCTAssertGreaterThan(outcome.grid.width, outcome.grid.height)
        // Compare the variants' own outputs directly, too.
        let pn = try PipelineValidator(registry: registry).resolve(doc, variant: "nearest")
        let pb = try PipelineValidator(registry: registry).resolve(doc, variant: "bilinear")
        guard case .image(let a)? = try PipelineRunner().run(pn).outputs.first?.value,
              case .image(let b)? = try PipelineRunner().run(pb).outputs.first?.value else { return XCTFail() }
        XCTAssertNotEqual(a.pixels, b.pixels)
        // What the A/B run laid out is exactly each variant's own output.
        XCTAssertEqual(outcome.images, [a, b])
        XCTAssertEqual(outcome.report["seed"] as? UInt64, 0)
        XCTAssertEqual((outcome.report["inputs"] as? [String: String])?["image"], "image 16x12x3")
        XCTAssertTrue(try JSONSerialization.data(withJSONObject: outcome.report).count > 100)
    }

    func testVariantCanSwapAStageKind() throws {
        let yaml = abYAML + "\n  cropped:\n    stages:\n      big: {kind: image.crop, config: {x: 1, y: 1, width: 2, height: 2}}\n"
        let (p, _, _) = try resolve(yaml, variant: "cropped")
        guard case .image(let img)? = try PipelineRunner().run(p).outputs.first?.value else { return XCTFail() }
        XCTAssertEqual([img.width, img.height], [2, 2])
    }

    func testSameSeedSameResultAndStageSeedsDiffer() throws {
        let yaml = "version: 1\nstages:\n  a: {kind: test.noise}\n  b: {kind: test.noise}\noutputs:\n  a: a.value\n  b: b.value\n"
        func draws(_ seed: UInt64) throws -> [Double] {
            var o = PipelineOverrides()
            o.seed = seed
            let (p, _, _) = try resolve(yaml, o, plugins: ["libTestPluginWeights.so"])
            XCTAssertEqual(p.seed, seed)
            return try PipelineRunner().run(p).outputs.map { out in
                guard case .scalar(let v) = out.value else { XCTFail("not a scalar"); return -1 }
                return v
            }
        }
        let first = try draws(42)
        XCTAssertEqual(try draws(42), first, "the same seed gives the same result")
        XCTAssertNotEqual(try draws(43), first, "another seed gives another result")
        XCTAssertNotEqual(first[0], first[1], "each stage gets its own seed")
    }
}

/// The muse-run executable end to end: exit status, messages, --describe.
final class MuseRunCLITests: XCTestCase {
    func run(_ args: [String], cwd: URL, environment: [String: String] = [:]) throws -> (status: Int32, out: String, err: String) {
        try Products.requireBuilt(Products.museRun)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Products.museRun)
        p.arguments = args
        p.currentDirectoryURL = cwd
        p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let o = Pipe(), e = Pipe()
        p.standardOutput = o; p.standardError = e
        try p.run()
        let od = o.fileHandleForReading.readDataToEndOfFile(), ed = e.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: od, as: UTF8.self), String(decoding: ed, as: UTF8.self))
    }

    func testDescribePrintsThePluginsOwnDeclaration() throws {
        let r = try run(["--describe", "image.extend"], cwd: temporaryFolder())
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertTrue(r.out.contains("fill (string, default gray, one of: white|black|gray|edge)"), r.out)
        XCTAssertTrue(r.out.contains("mask: mask - 1 on the added area"), r.out)
    }

    func testPluginSearchPathsFromEnvironmentFlagAndPipeline() throws {
        let dir = temporaryFolder()
        let plugins = dir.appendingPathComponent("plugins")
        try FileManager.default.createDirectory(at: plugins, withIntermediateDirectories: true)
        // Folders are scanned for libMuse*.so: install the weights test plugin under such a name.
        try FileManager.default.copyItem(atPath: Products.path("libTestPluginWeights.so"),
                                         toPath: plugins.appendingPathComponent("libMuseTestWeights.so").path)
        let viaEnv = try run(["--list-plugins"], cwd: dir, environment: ["MUSE_PLUGIN_PATH": plugins.path])
        XCTAssertEqual(viaEnv.status, 0, viaEnv.err)
        XCTAssertTrue(viaEnv.out.contains("TestPluginWeights") && viaEnv.out.contains("test.tensor_sum"), viaEnv.out)
        let viaFlag = try run(["--plugins", plugins.path, "--describe", "test.tensor_sum"], cwd: dir)
        XCTAssertEqual(viaFlag.status, 0, viaFlag.err)
        XCTAssertTrue(viaFlag.out.contains("weights: required"), viaFlag.out)
        let without = try run(["--describe", "test.tensor_sum"], cwd: dir)
        XCTAssertEqual(without.status, 1)
        XCTAssertTrue(without.err.contains("no stage kind 'test.tensor_sum'"), without.err)
        // A pipeline's own `plugins:` list, relative to the YAML file.
        var w = SafeTensorsWriter()
        try w.add("w", [2, 3], shape: [2])
        try w.write(to: dir.appendingPathComponent("w.safetensors"))
        try "version: 1\nplugins: [plugins/libMuseTestWeights.so]\nstages:\n  s: {kind: test.tensor_sum, weights: w.safetensors}\noutputs:\n  sum: s.sum\n"
            .write(to: dir.appendingPathComponent("p.yaml"), atomically: true, encoding: .utf8)
        let viaYAML = try run(["p.yaml", "--out", "sum.txt", "--quiet"], cwd: dir)
        XCTAssertEqual(viaYAML.status, 0, viaYAML.err)
        XCTAssertEqual(try String(contentsOf: dir.appendingPathComponent("sum.txt"), encoding: .utf8), "5.0\n")
        // A plugin path in the YAML that is not a plugin: an error at its line and column.
        try "version: 1\nplugins: [nothing.so]\nstages:\n  s: {kind: image.load, config: {path: x.png}}\n"
            .write(to: dir.appendingPathComponent("bad.yaml"), atomically: true, encoding: .utf8)
        let bad = try run(["bad.yaml"], cwd: dir)
        XCTAssertEqual(bad.status, 1)
        XCTAssertTrue(bad.err.contains("bad.yaml:2:11: error: plugin") && bad.err.contains("file not found"), bad.err)
    }

    func testRunWritesPNGAndFailsCleanly() throws {
        let dir = temporaryFolder()
        try PNGCodec.write(testPicture(), to: dir.appendingPathComponent("in.png"))
        try "version: 1\ninputs:\n  image: {type: image}\nstages:\n  r: {kind: image.resize, config: {width: 5, height: 5}, inputs: {image: input.image}}\noutputs:\n  image: r.image\n"
            .write(to: dir.appendingPathComponent("p.yaml"), atomically: true, encoding: .utf8)
        let ok = try run(["p.yaml", "--image", "in.png", "--out", "o.png", "--quiet"], cwd: dir)
        XCTAssertEqual(ok.status, 0, ok.err)
        XCTAssertEqual(try PNGCodec.read(dir.appendingPathComponent("o.png")).width, 5)
        let missing = try run(["p.yaml", "--out", "o2.png"], cwd: dir)
        XCTAssertEqual(missing.status, 1)
        XCTAssertTrue(missing.err.contains("p.yaml:5:") && missing.err.contains("pass --image"), missing.err)
        let bad = try run(["p.yaml", "--image", "in.png", "--set", "r.width=-3"], cwd: dir)
        XCTAssertEqual(bad.status, 1)
        XCTAssertTrue(bad.err.contains("outside the allowed range"), bad.err)
        let nofile = try run(["nothing.yaml"], cwd: dir)
        XCTAssertEqual(nofile.status, 1)
        XCTAssertTrue(nofile.err.contains("nothing.yaml") && nofile.err.contains("cannot read"), nofile.err)
    }
}
