import Foundation
import MuseCore
@testable import MuseHost
import XCTest

/// A/B runs create each stage that no variant changes once (issue 16).
final class StageCacheTests: XCTestCase {
    func testABVariantsShareUnchangedStages() throws {
        let dir = temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        try PNGCodec.write(testPicture(), to: dir.appendingPathComponent("in.png"))
        var w = SafeTensorsWriter()
        try w.add("w", [1, 2], shape: [2])
        try w.write(to: dir.appendingPathComponent("w.safetensors"))
        let yaml = """
        version: 1
        inputs:
          image: {type: image, default: in.png}
        stages:
          small: {kind: image.resize, config: {width: 4, height: 3, filter: box}, inputs: {image: input.image}}
          big: {kind: image.resize, config: {width: 32, height: 24, filter: nearest}, inputs: {image: small.image}}
          sum: {kind: test.tensor_sum, weights: w.safetensors}
        outputs:
          image: big.image
        variants:
          nearest: {}
          bilinear:
            set: {big.filter: bilinear}
          again: {}
        """
        try yaml.write(to: dir.appendingPathComponent("ab.yaml"), atomically: true, encoding: .utf8)
        let registry = try imageOpsRegistry(["libTestPluginWeights.so"])
        let doc = try PipelineDocument.load(dir.appendingPathComponent("ab.yaml"))
        let ab = ABRun(document: doc, validator: PipelineValidator(registry: registry), overrides: PipelineOverrides(), progress: SilentProgress())
        let outcome = try ab.run()
        // small and sum (with its weights) once; big once per distinct filter.
        XCTAssertEqual(ab.stageCache.created, 4)
        XCTAssertEqual(ab.stageCache.reused, 5)
        let variants = outcome.report["variants"] as! [[String: Any]]
        let reused = variants.map { v in (v["timings"] as! [[String: Any]]).map { $0["reused"] as! Bool } }
        XCTAssertEqual(reused, [[false, false, false], [true, false, true], [true, true, true]])
        // Same images as separate, uncached runs.
        for (i, name) in ["nearest", "bilinear", "again"].enumerated() {
            let p = try PipelineValidator(registry: registry).resolve(doc, variant: name)
            guard case .image(let img)? = try PipelineRunner().run(p).outputs.first?.value else { return XCTFail() }
            XCTAssertEqual(outcome.images[i], img, name)
        }
        XCTAssertEqual(outcome.images[0], outcome.images[2])
    }

    func testKeyCoversConfigWeightsAndName() throws {
        let dir = temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        try PNGCodec.write(testPicture(), to: dir.appendingPathComponent("in.png"))
        let yaml = "version: 1\ninputs:\n  image: {type: image, default: in.png}\nstages:\n  a: {kind: image.resize, config: {width: 4, height: 3}, inputs: {image: input.image}}\n  b: {kind: image.resize, config: {width: 4, height: 3}, inputs: {image: a.image}}\n  c: {kind: image.resize, config: {width: 4, height: 4}, inputs: {image: b.image}}\noutputs:\n  image: c.image\n"
        try yaml.write(to: dir.appendingPathComponent("p.yaml"), atomically: true, encoding: .utf8)
        let p = try PipelineValidator(registry: try imageOpsRegistry()).resolve(PipelineDocument.load(dir.appendingPathComponent("p.yaml")))
        let keys = p.stages.map(StageCache.key)
        XCTAssertEqual(Set(keys).count, 3, "stage name and config are part of the key")
        XCTAssertTrue(keys[0].contains("width=int:4"), keys[0])
    }

    /// A long-lived host keeps only the stages its last run used: a changed config
    /// replaces the old stage instead of piling up beside it.
    func testDropUnusedKeepsOnlyTheLastRunsStages() throws {
        let dir = temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        try PNGCodec.write(testPicture(), to: dir.appendingPathComponent("in.png"))
        let yaml = "version: 1\ninputs:\n  image: {type: image, default: in.png}\nstages:\n  a: {kind: image.resize, config: {width: 4, height: 3}, inputs: {image: input.image}}\n  b: {kind: image.resize, config: {width: 8, height: 6}, inputs: {image: a.image}}\noutputs:\n  image: b.image\n"
        try yaml.write(to: dir.appendingPathComponent("p.yaml"), atomically: true, encoding: .utf8)
        let validator = PipelineValidator(registry: try imageOpsRegistry())
        let doc = try PipelineDocument.load(dir.appendingPathComponent("p.yaml"))
        let cache = StageCache()
        for width in [8, 16, 16] {
            var o = PipelineOverrides()
            o.sets = ["b.width=\(width)"]
            cache.beginTracking()
            _ = try PipelineRunner(stageCache: cache).run(try validator.resolve(doc, overrides: o))
            cache.dropUnused()
            XCTAssertEqual(cache.count, 2, "a and this run's b only")
        }
        XCTAssertEqual(cache.created, 3, "a once, b for 8 and for 16")
        XCTAssertEqual(cache.reused, 3)
    }
}
