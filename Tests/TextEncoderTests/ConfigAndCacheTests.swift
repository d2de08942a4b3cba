import Foundation
import XCTest
import MuseCore
@testable import MuseTextEncoder

/// Malformed `config.json` files and damaged embedding cache entries: clear
/// errors and cache misses, never traps. No model files needed.
final class ConfigAndCacheTests: XCTestCase {
    var dir: URL!
    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("muse-te-config-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    /// all-MiniLM-L6-v2's config.json with `edits` applied (NSNull removes a key).
    private func writeConfig(_ edits: [String: Any]) throws -> URL {
        var obj: [String: Any] = ["hidden_act": "gelu", "hidden_size": 384, "intermediate_size": 1536, "layer_norm_eps": 1e-12,
                                  "max_position_embeddings": 512, "num_attention_heads": 12, "num_hidden_layers": 6,
                                  "position_embedding_type": "absolute", "type_vocab_size": 2, "vocab_size": 30522]
        for (k, v) in edits { obj[k] = v is NSNull ? nil : v }
        let url = dir.appendingPathComponent("config.json")
        try JSONSerialization.data(withJSONObject: obj).write(to: url)
        return url
    }

    func testValidConfigParses() throws {
        let c = try BertConfig(contentsOf: try writeConfig([:]))
        XCTAssertEqual(c, BertConfig())
        XCTAssertEqual(c.headDim, 32)
        // Absent keys keep their defaults.
        XCTAssertEqual(try BertConfig(contentsOf: try writeConfig(["type_vocab_size": NSNull()])).typeVocabSize, 2)
        // The smallest legal model.
        let tiny = try BertConfig(contentsOf: try writeConfig(["hidden_size": 1, "num_attention_heads": 1, "num_hidden_layers": 1,
                                                               "intermediate_size": 1, "max_position_embeddings": 2,
                                                               "type_vocab_size": 1, "vocab_size": 1]))
        XCTAssertEqual(tiny.maxPositions, 2)
        XCTAssertEqual(tiny.layers, 1)
    }

    func testMalformedConfigNamesFileAndKey() throws {
        let cases: [(key: String, value: Any)] = [
            ("max_position_embeddings", 1), ("max_position_embeddings", 0), ("max_position_embeddings", 1 << 40),
            ("num_hidden_layers", -1), ("num_hidden_layers", 0), ("num_hidden_layers", 1e12),
            ("hidden_size", -12), ("hidden_size", 0), ("hidden_size", 384.5), ("hidden_size", "384"),
            ("num_attention_heads", 0), ("num_attention_heads", -12),
            ("intermediate_size", -1), ("intermediate_size", Double.greatestFiniteMagnitude),
            ("vocab_size", 0), ("vocab_size", true), ("vocab_size", [30522]),
            ("type_vocab_size", 0), ("layer_norm_eps", -1), ("layer_norm_eps", 0), ("layer_norm_eps", "small"),
        ]
        for (key, value) in cases {
            let url = try writeConfig([key: value])
            XCTAssertThrowsError(try BertConfig(contentsOf: url), "\(key) = \(value)") { error in
                let m = "\(error)"
                XCTAssertTrue(error is MuseError, m)
                XCTAssertTrue(m.contains(url.path) && m.contains("'\(key)'"), "\(key) = \(value): \(m)")
            }
        }
        // hidden_size -12 with 12 heads once passed the divisibility check.
        XCTAssertThrowsError(try BertConfig(contentsOf: try writeConfig(["hidden_size": -12]))) {
            XCTAssertTrue("\($0)".contains("must be a whole number in 1...16384, not -12"), "\($0)")
        }
        XCTAssertThrowsError(try BertConfig(contentsOf: try writeConfig(["hidden_size": 100]))) {
            let m = "\($0)"
            XCTAssertTrue(m.contains("config.json") && m.contains("'hidden_size' 100") && m.contains("'num_attention_heads' 12"), m)
        }
    }

    /// A model folder whose config allows only 4 positions: max_tokens above that
    /// is refused before any weights are read.
    func testMaxTokensBeyondConfigIsAnError() throws {
        let model = dir.appendingPathComponent("model")
        try FileManager.default.createDirectory(at: model, withIntermediateDirectories: true)
        try "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\na\n".write(to: model.appendingPathComponent("vocab.txt"), atomically: true, encoding: .utf8)
        try FileManager.default.moveItem(at: try writeConfig(["max_position_embeddings": 4, "vocab_size": 6]),
                                         to: model.appendingPathComponent("config.json"))
        for bad in [5, 1, -3, Int.max] {
            XCTAssertThrowsError(try TextEncoder(modelDirectory: model, maxTokens: bad)) {
                XCTAssertTrue("\($0)".contains("max_tokens \(bad) is outside 2...4"), "\($0)")
            }
        }
    }

    private func embedding(dim: Int = 4) -> TextEmbedding {
        TextEmbedding(tokenIDs: [101, 7, 102], hidden: (0..<(3 * dim)).map { Float($0) / 8 }, dim: dim,
                      mask: [1, 1, 1], pooled: (0..<dim).map { Float($0) })
    }

    func testDamagedDiskEntryIsAMissAndRewritten() throws {
        let text = "three blue stars"
        let e = embedding()
        let cache = EmbeddingCache(capacity: 0, directory: dir, fingerprint: "fp", dim: 4)
        cache.store(text, e)
        XCTAssertEqual(cache.lookup(text), e)
        let url = try XCTUnwrap(cache.fileURL(text))
        // The shared layout is what is on disk.
        XCTAssertEqual(try TextEmbedding(safetensors: SafeTensorsFile(url)), e)

        func entry(ids: [Int64], hiddenShape: [Int], mask: [Int64]?, pooled: Int = 4) throws -> Data {
            var w = SafeTensorsWriter()
            try w.add("input_ids", ints: ids, shape: [ids.count])
            try w.add("last_hidden_state", [Float](repeating: 0, count: hiddenShape.reduce(1, *)), shape: hiddenShape)
            if let mask { try w.add("attention_mask", ints: mask, shape: [mask.count]) }
            try w.add("pooled", [Float](repeating: 0, count: pooled), shape: [pooled])
            w.metadata = ["text": text, "fingerprint": "fp"]
            return try w.serialized()
        }
        let damaged: [(String, Data)] = [
            ("ids beyond Int32", try entry(ids: [101, 1 << 40, 102], hiddenShape: [3, 4], mask: [1, 1, 1])),
            ("negative id", try entry(ids: [101, -1, 102], hiddenShape: [3, 4], mask: [1, 1, 1])),
            ("hidden rows != ids", try entry(ids: [101, 7, 102], hiddenShape: [2, 4], mask: [1, 1, 1])),
            ("no mask", try entry(ids: [101, 7, 102], hiddenShape: [3, 4], mask: nil)),
            ("mask not 0/1", try entry(ids: [101, 7, 102], hiddenShape: [3, 4], mask: [1, 2, 1])),
            ("padding", try entry(ids: [101, 7, 0], hiddenShape: [3, 4], mask: [1, 1, 0])),
            ("pooled of another width", try entry(ids: [101, 7, 102], hiddenShape: [3, 4], mask: [1, 1, 1], pooled: 3)),
            ("another width", try entry(ids: [101, 7, 102], hiddenShape: [3, 8], mask: [1, 1, 1], pooled: 8)),
            ("truncated", try e.safetensorsWriter().serialized().prefix(40)),
            ("garbage", Data("not safetensors".utf8)),
        ]
        for (what, bytes) in damaged {
            try bytes.write(to: url)
            let c = EmbeddingCache(capacity: 10, directory: dir, fingerprint: "fp", dim: 4)
            XCTAssertNil(c.lookup(text), what)
            XCTAssertEqual(c.misses, 1, what)
            c.store(text, e)
            XCTAssertEqual(EmbeddingCache(capacity: 0, directory: dir, fingerprint: "fp", dim: 4).lookup(text), e, "\(what): rewritten")
        }
    }

    func testWriterDropsPadding() throws {
        let e = embedding()
        let padded = TextEncoder.pad(e, to: 6, padID: 0)
        let url = dir.appendingPathComponent("e.safetensors")
        try EmbeddingCache.writer(padded).write(to: url)
        let f = try SafeTensorsFile(url)
        XCTAssertEqual(f.entries["input_ids"]?.shape, [3])
        XCTAssertEqual(f.entries["attention_mask"]?.shape, [3])
        XCTAssertEqual(try TextEmbedding(safetensors: f), e)
    }

    func testContentHashSeesContentNotJustSize() throws {
        let a = dir.appendingPathComponent("a.bin"), b = dir.appendingPathComponent("b.bin")
        try Data([1, 2, 3, 4]).write(to: a)
        try Data([1, 2, 3, 5]).write(to: b)
        XCTAssertNotEqual(try TextEncoder.contentHash(a), try TextEncoder.contentHash(b))
        XCTAssertEqual(try TextEncoder.contentHash(a), String(format: "%016llx", FNV1a.hash([1, 2, 3, 4] as [UInt8])))
        XCTAssertThrowsError(try TextEncoder.contentHash(dir.appendingPathComponent("missing"))) {
            XCTAssertTrue("\($0)".contains("missing"), "\($0)")
        }
    }
}
