import Foundation
import XCTest
import MuseCore
import MuseEngine
@testable import MuseTextEncoder

/// The `text.encode` stage: spec, config, outputs, and its error messages.
final class StageTests: XCTestCase {
    static func config(_ values: [String: ConfigValue], weights: URL? = nil, base: URL = TestPaths.root) -> StageConfig {
        var v: [String: ConfigValue] = [:]
        for k in TextEncodeStage.descriptor.spec.config { v[k.name] = k.defaultValue }
        for (k, x) in values { v[k] = x }
        return StageConfig(values: v, weights: weights, baseDirectory: base, stageName: "encoder")
    }

    func testSpec() {
        let spec = TextEncodeStage.descriptor.spec
        XCTAssertEqual(spec.kind, "text.encode")
        XCTAssertEqual(spec.input("text")?.type, .text)
        XCTAssertEqual(spec.output("embedding")?.type, .textEmbedding)
        XCTAssertEqual(spec.configKey("max_tokens")?.defaultValue, .int(32))
        XCTAssertNotNil(spec.configKey("model_dir"))
        XCTAssertTrue(spec.describe.contains("text.encode"))
    }

    func testStageEncodesAPrompt() throws {
        let dir = try ModelFiles.require()
        let stage = try TextEncodeStage.descriptor.make(Self.config(["model_dir": .string(dir.path), "pad": .bool(true)]))
        let ctx = StageContext(stageName: "encoder", seed: 0, progress: SilentProgress())
        let out = try stage.run(StageInputs(["text": .text("woman farmer: medium skin tone")], stageName: "encoder"), ctx)
        guard case .textEmbedding(let e)? = out["embedding"] else { return XCTFail("no text_embedding output") }
        XCTAssertEqual(e.count, 32)
        XCTAssertEqual(e.dim, 384)
        XCTAssertEqual(Array(e.tokenIDs.prefix(8)), [101, 2450, 7500, 1024, 5396, 3096, 4309, 102])
        XCTAssertEqual(e.mask.reduce(0, +), 8)
        XCTAssertThrowsError(try stage.run(StageInputs(["text": .text("   ")], stageName: "encoder"), ctx)) {
            XCTAssertTrue("\($0)".contains("prompt is"), "\($0)")
        }
        // The writer the cache (and muse-run --out) uses.
        let w = try EmbeddingCache.writer(e)
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("te-\(UUID().uuidString).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try w.write(to: url)
        let f = try SafeTensorsFile(url)
        XCTAssertEqual(f.entries["input_ids"]?.shape, [8])
        XCTAssertEqual(f.entries["last_hidden_state"]?.shape, [8, 384])
        XCTAssertEqual(f.entries["pooled"]?.shape, [384])
    }

    /// A prompt longer than max_tokens is an error by default, truncated when asked.
    func testTooLongPrompts() throws {
        let dir = try ModelFiles.require()
        let ctx = StageContext(stageName: "encoder", seed: 0, progress: SilentProgress())
        let long = StageInputs(["text": .text("three blue stars to the left of two red circles on a light blue background")], stageName: "encoder")
        let strict = try TextEncodeStage.descriptor.make(Self.config(["model_dir": .string(dir.path), "max_tokens": .int(8)]))
        XCTAssertThrowsError(try strict.run(long, ctx)) {
            XCTAssertTrue("\($0)".contains("reads at most 6") && "\($0)".contains("too_long: truncate"), "\($0)")
        }
        let lenient = try TextEncodeStage.descriptor.make(Self.config(["model_dir": .string(dir.path), "max_tokens": .int(8), "too_long": .string("truncate")]))
        guard case .textEmbedding(let e)? = try lenient.run(long, ctx)["embedding"] else { return XCTFail("no embedding") }
        XCTAssertEqual(e.count, 8)
    }

    func testMissingModelFolderNamesPathAndScript() {
        XCTAssertThrowsError(try TextEncodeStage.descriptor.make(Self.config(["model_dir": .string("/nonexistent/minilm")]))) { error in
            let m = "\(error)"
            XCTAssertTrue(m.contains("/nonexistent/minilm") && m.contains("scripts/fetch-text-encoder.sh"), m)
        }
    }

    /// A model folder with the real vocab and config but a broken weights file.
    private func brokenModel(_ edit: (inout SafeTensorsWriter) throws -> Void) throws -> URL {
        let src = try ModelFiles.require()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("muse-te-broken-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        for f in ["vocab.txt", "config.json"] {
            try FileManager.default.copyItem(at: src.appendingPathComponent(f), to: dir.appendingPathComponent(f))
        }
        var w = SafeTensorsWriter()
        try edit(&w)
        try w.write(to: dir.appendingPathComponent("model.safetensors"))
        return dir
    }

    func testWrongShapedTensorIsNamed() throws {
        let dir = try brokenModel { w in
            // The first parameter the model asks for, with the wrong shape.
            try w.add("embeddings.word_embeddings.weight", [Float](repeating: 0, count: 10 * 384), shape: [10, 384])
        }
        defer { try? FileManager.default.removeItem(at: dir) }
        XCTAssertThrowsError(try TextEncoder(modelDirectory: dir)) { error in
            let m = "\(error)"
            XCTAssertTrue(m.contains("embeddings.word_embeddings.weight") && m.contains("[10, 384]") && m.contains("[30522, 384]"), m)
        }
    }

    func testMissingTensorIsNamed() throws {
        let dir = try brokenModel { w in try w.add("unrelated", [0], shape: [1]) }
        defer { try? FileManager.default.removeItem(at: dir) }
        XCTAssertThrowsError(try TextEncoder(modelDirectory: dir)) { error in
            let m = "\(error)"
            XCTAssertTrue(m.contains("missing tensor") && m.contains("embeddings.word_embeddings.weight"), m)
        }
    }

    func testMissingVocabularyIsNamed() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("muse-te-novocab-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        XCTAssertThrowsError(try TextEncoder(modelDirectory: dir)) { error in
            let m = "\(error)"
            XCTAssertTrue(m.contains("vocab.txt") && m.contains("fetch-text-encoder.sh"), m)
        }
    }
}

final class ModelShapeTests: XCTestCase {
    /// The fast pre-check's list agrees with the model's own parameters.
    func testExpectedParametersMatchModel() {
        var c = BertConfig()
        c.vocabSize = 50; c.maxPositions = 16; c.layers = 2   // small: random init is quick
        let model = BertModel(config: c)
        let expected = BertModel.expectedParameters(c)
        XCTAssertEqual(model.namedParameters.map(\.name), expected.map(\.name))
        XCTAssertEqual(model.namedParameters.map(\.param.shape), expected.map(\.shape))
    }
}

final class BenchmarkInputTests: XCTestCase {
    func testBenchmarkInputs() throws {
        let tok = try TokenizerTests.tokenizer()
        XCTAssertEqual(try tok.encode(TextEncoderBenchmark.prompt16, maxTokens: 32).ids.count, 16)
        let caps = TextEncoderBenchmark.captions64
        XCTAssertEqual(caps.count, 64)
        XCTAssertEqual(Set(caps).count, 64)
    }
}
