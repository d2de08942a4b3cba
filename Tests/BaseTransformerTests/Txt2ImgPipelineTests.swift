import XCTest
import Foundation
import MuseCore
import MuseEngine
import MuseImageTokenizer
@testable import MuseBaseTransformer

/// txt2img through the real plugins and `muse-run`: text.encode (the real MiniLM) ->
/// transformer.base -> sampler.maskgit / sampler.halton -> tokenizer.decode, on tiny
/// weights made here (a 4x4 grid of a 15-code tokenizer, 16 px images).
final class Txt2ImgPipelineTests: XCTestCase {
    var museRun: String { BaseTrainingTests.productsFolder.appendingPathComponent("muse-run").path }
    var dir: URL!

    override func setUpWithError() throws {
        guard FileManager.default.fileExists(atPath: museRun) else { throw XCTSkip("\(museRun) is missing: build all products first") }
        guard FileManager.default.fileExists(atPath: BaseTrainingTests.root.appendingPathComponent(".cache/text-encoder/all-MiniLM-L6-v2/model.safetensors").path) else {
            XCTFail("the text encoder is missing: run scripts/fetch-text-encoder.sh"); throw XCTSkip("no text encoder")
        }
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("t2i-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let fp32 = OpenBLASBackend()
        var t = TokenizerConfig()
        t.width = 4; t.channelMultipliers = [1, 2, 2]; t.encoderBlocks = 1; t.decoderBlocks = 1; t.groups = 2; t.fsqLevels = [5, 3]
        try ImageTokenizerModel(t, codebookName: "book-a", seed: 1, backend: fp32).saveWeights(to: dir.appendingPathComponent("tok-a.safetensors"))
        try ImageTokenizerModel(t, codebookName: "book-b", seed: 2, backend: fp32).saveWeights(to: dir.appendingPathComponent("tok-b.safetensors"))
        var c = BaseTransformerConfig()
        c.width = 16; c.depth = 1; c.heads = 2; c.mlpRatio = 2; c.maxTextTokens = 8; c.gridHeight = 4; c.gridWidth = 4; c.codebookSize = 15
        try BaseTransformerModel(c, codebookName: "book-a", seed: 3, backend: fp32).saveWeights(to: dir.appendingPathComponent("base.safetensors"), dtype: .f16)
    }
    override func tearDown() { if let dir { try? FileManager.default.removeItem(at: dir) } }

    func pipeline(decoder: String = "tok-a.safetensors", maxTokens: Int = 8, variants: Bool = false) throws -> URL {
        var yaml = """
        version: 1
        inputs:
          prompt: {type: text, doc: what to draw}
          seed: {type: scalar, default: 0, doc: seed}
        stages:
          text:
            kind: text.encode
            config: {model_dir: \(BaseTrainingTests.root.path)/.cache/text-encoder/all-MiniLM-L6-v2, max_tokens: \(maxTokens)}
            inputs: {text: input.prompt}
          base:
            kind: transformer.base
            weights: base.safetensors
          sample:
            kind: sampler.maskgit
            config: {steps: 5}
            inputs: {model: base.model, text: text.embedding}
          decode:
            kind: tokenizer.decode
            weights: \(decoder)
            inputs: {tokens: sample.tokens}
        outputs:
          image: decode.image
        """
        if variants { yaml += "\nvariants:\n  maskgit: {}\n  halton:\n    stages:\n      sample: {kind: sampler.halton, config: {steps: 5}}\n" }
        let url = dir.appendingPathComponent("p-\(UUID().uuidString).yaml")
        try yaml.write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    func run(_ args: [String]) throws -> (status: Int32, stderr: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: museRun)
        p.arguments = args + ["--quiet"]
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        let data = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    func testGeneratesDeterministicallyUnderASeed() throws {
        let p = try pipeline().path
        var files: [Data] = []
        for (i, seed) in ["3", "3", "4"].enumerated() {
            let out = dir.appendingPathComponent("o\(i).png")
            let r = try run([p, "--prompt", "two red squares", "--seed", seed, "--out", out.path])
            XCTAssertEqual(r.status, 0, r.stderr)
            let img = try PNGCodec.read(out)
            XCTAssertEqual([img.width, img.height], [16, 16])
            files.append(try Data(contentsOf: out))
        }
        XCTAssertEqual(files[0], files[1], "the same seed gives the same image")
        XCTAssertNotEqual(files[0], files[2], "another seed gives another image")
        // The PNG records its run; --from reruns it byte for byte, from another folder too,
        // and options given with --from override what it recorded.
        let text = try PNGTextChunks.read(files[0])["muse:run"] ?? ""
        XCTAssertTrue(text.contains("\"seed\":3") && text.contains("two red squares"), text)
        let again = dir.appendingPathComponent("again.png"), other = dir.appendingPathComponent("other.png")
        XCTAssertEqual(try run(["--from", dir.appendingPathComponent("o0.png").path, "--out", again.path]).status, 0)
        XCTAssertEqual(try Data(contentsOf: again), files[0])
        XCTAssertEqual(try run(["--from", dir.appendingPathComponent("o0.png").path, "--seed", "4", "--out", other.path]).status, 0)
        XCTAssertEqual(try Data(contentsOf: other), files[2])
        let notOurs = try run(["--from", dir.appendingPathComponent("tok-a.safetensors").path])
        XCTAssertNotEqual(notOurs.status, 0)
        XCTAssertTrue(notOurs.stderr.contains("not a PNG"), notOurs.stderr)
    }

    /// Two prompts x two seeds in one run, batched through the transformer: each item's
    /// PNG equals the single run of the same prompt and seed (provenance included).
    func testBatchRunEqualsSingleRuns() throws {
        let p = try pipeline().path
        let prompts = dir.appendingPathComponent("prompts.txt")
        try "a red circle\n\nthree green stars\n".write(to: prompts, atomically: true, encoding: .utf8)
        let r = try run([p, "--prompts-file", prompts.path, "--seeds", "2", "--seed", "10", "--out", dir.appendingPathComponent("b.png").path])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent("b-grid.png").path))
        for (i, (prompt, seed)) in [("a red circle", 10), ("a red circle", 11), ("three green stars", 10), ("three green stars", 11)].enumerated() {
            let single = dir.appendingPathComponent("s\(i).png")
            XCTAssertEqual(try run([p, "--prompt", prompt, "--seed", "\(seed)", "--out", single.path]).status, 0)
            XCTAssertEqual(try Data(contentsOf: dir.appendingPathComponent("b-\(i).png")), try Data(contentsOf: single), "item \(i)")
        }
        let bad = try run([p, "--prompt", "a", "--seeds", "0"])
        XCTAssertNotEqual(bad.status, 0)
    }

    func testTwoSamplersSideBySide() throws {
        let out = dir.appendingPathComponent("ab.png")
        let r = try run([try pipeline(variants: true).path, "--prompt", "a blue star", "--out", out.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        let report = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("ab.json"))) as? [String: Any]
        let variants = report?["variants"] as? [[String: Any]] ?? []
        XCTAssertEqual(variants.compactMap { $0["name"] as? String }, ["maskgit", "halton"])
        let kinds = variants.map { v in ((v["stages"] as? [[String: Any]]) ?? []).compactMap { $0["kind"] as? String } }
        XCTAssertTrue(kinds[0].contains("sampler.maskgit") && kinds[1].contains("sampler.halton"), "\(kinds)")
    }

    func testClearErrors() throws {
        // A decoder of another codebook.
        let a = try run([try pipeline(decoder: "tok-b.safetensors").path, "--prompt", "a red circle", "--out", dir.appendingPathComponent("x.png").path])
        XCTAssertNotEqual(a.status, 0)
        XCTAssertTrue(a.stderr.contains("book-a") && a.stderr.contains("book-b"), a.stderr)
        // A text encoder that lets through longer prompts than the transformer reads.
        let b = try run([try pipeline(maxTokens: 16).path, "--prompt", "three blue stars to the left of two red circles", "--out", dir.appendingPathComponent("y.png").path])
        XCTAssertNotEqual(b.status, 0)
        XCTAssertTrue(b.stderr.contains("reads at most 8"), b.stderr)
        // The sampler's token model port takes only a token_model.
        let bad = dir.appendingPathComponent("bad.yaml")
        try String(contentsOf: try pipeline(), encoding: .utf8).replacingOccurrences(of: "{model: base.model,", with: "{model: text.embedding,")
            .write(to: bad, atomically: true, encoding: .utf8)
        let c = try run([bad.path, "--prompt", "a red circle"])
        XCTAssertNotEqual(c.status, 0)
        XCTAssertTrue(c.stderr.contains("token_model"), c.stderr)
    }

    /// Examples/sampler-plugin-template, copied out of the tree and built there with
    /// `swift build`, loads into muse-run from a pipeline's `plugins:` list and drives
    /// the base transformer from YAML alone.
    func testOutOfTreeSamplerPluginRunsFromYAML() throws {
        let dir: URL = self.dir
        let root = BaseTrainingTests.root
        let pkg = dir.appendingPathComponent("my-sampler")
        try FileManager.default.copyItem(at: root.appendingPathComponent("Examples/sampler-plugin-template"), to: pkg)
        let build = Process()
        build.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        build.arguments = ["swift", "build", "--package-path", pkg.path]
        var env = ProcessInfo.processInfo.environment
        env["MUSE_CORE"] = root.appendingPathComponent("Sources/MuseCore").path
        build.environment = env
        let log = Pipe()
        build.standardOutput = log
        build.standardError = log
        try build.run()
        let text = String(decoding: log.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        build.waitUntilExit()
        XCTAssertEqual(build.terminationStatus, 0, text)
        let so = pkg.appendingPathComponent(".build/debug/libMuseGreedySampler.so")
        XCTAssertTrue(FileManager.default.fileExists(atPath: so.path), text)

        let yaml = try String(contentsOf: try pipeline(), encoding: .utf8)
            .replacingOccurrences(of: "version: 1\n", with: "version: 1\nplugins: [my-sampler/.build/debug/libMuseGreedySampler.so]\n")
            .replacingOccurrences(of: "kind: sampler.maskgit", with: "kind: example.greedy")
        let p = dir.appendingPathComponent("greedy.yaml")
        try yaml.write(to: p, atomically: true, encoding: .utf8)
        let out = dir.appendingPathComponent("greedy.png")
        let r = try run([p.path, "--prompt", "a green square", "--out", out.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try PNGCodec.read(out).width, 16)
    }

    /// The shipped pipelines on the shipped weights: txt2img-64 writes a 64x64 PNG, and
    /// sampler-ab compares its three variants.
    func testShippedPipelinesRunOnTheShippedWeights() throws {
        let root = BaseTrainingTests.root
        let out = dir.appendingPathComponent("shipped.png")
        let r = try run([root.appendingPathComponent("Pipelines/txt2img-64.yaml").path, "--prompt", "two red squares", "--seed", "1", "--out", out.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        let img = try PNGCodec.read(out)
        XCTAssertEqual([img.width, img.height], [64, 64])
        // The optional negative prompt: without it the pipeline runs as before (its
        // encoder stage does not run); with it, guidance steers away from it.
        let negative = dir.appendingPathComponent("negative.png"), negative2 = dir.appendingPathComponent("negative2.png")
        for file in [negative, negative2] {
            let n = try run([root.appendingPathComponent("Pipelines/txt2img-64.yaml").path, "--prompt", "two red squares", "--seed", "1",
                             "--negative-prompt", "red", "--out", file.path])
            XCTAssertEqual(n.status, 0, n.stderr)
        }
        XCTAssertNotEqual(try PNGCodec.read(negative), img, "the negative prompt changes the image")
        XCTAssertEqual(try PNGCodec.read(negative), try PNGCodec.read(negative2))
        let recorded = try PNGTextChunks.read(try Data(contentsOf: negative))["muse:run"] ?? ""
        XCTAssertTrue(recorded.contains("\"negative_prompt\":\"red\""), recorded)
        let ab = dir.appendingPathComponent("ab.png")
        let a = try run([root.appendingPathComponent("Pipelines/sampler-ab.yaml").path, "--prompt", "a blue star", "--out", ab.path])
        XCTAssertEqual(a.status, 0, a.stderr)
        let report = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("ab.json"))) as? [String: Any]
        XCTAssertEqual((report?["variants"] as? [[String: Any]])?.count, 3)
    }
}
