import Foundation
import XCTest
import MuseCore
import MuseEngine
@testable import MuseTextEncoder

/// The Swift BERT forward against `transformers` BertModel and
/// sentence-transformers on the strings of Fixtures/encoder_cases.json
/// (reference outputs in Fixtures/encoder_outputs.safetensors).
final class EncoderTests: XCTestCase {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var cached: TextEncoder?

    /// One encoder (max 77 tokens) shared by the tests: loading is the slow part.
    /// It runs on the fp32 reference backend whatever the process default is:
    /// the parity bounds are for fp32 (a bf16 backend would need looser ones).
    static func encoder() throws -> TextEncoder {
        lock.lock(); defer { lock.unlock() }
        if let e = cached { return e }
        let e = try TextEncoder(modelDirectory: try ModelFiles.require(), maxTokens: 77, backend: OpenBLASBackend())
        cached = e
        return e
    }

    static func cosine(_ a: [Float], _ b: [Float]) -> Double {
        var ab = 0.0, aa = 0.0, bb = 0.0
        for i in 0..<a.count { ab += Double(a[i]) * Double(b[i]); aa += Double(a[i] * a[i]); bb += Double(b[i] * b[i]) }
        return ab / (aa.squareRoot() * bb.squareRoot())
    }

    static func maxAbs(_ a: [Float], _ b: [Float]) -> Float {
        var m: Float = 0
        for i in 0..<a.count { m = max(m, abs(a[i] - b[i])) }
        return m
    }

    /// All reference strings in one padded batch (exercises the key mask), then
    /// a few one by one: ids identical, hidden states within 1e-4, pooled cosine > 0.9999.
    func testHiddenStatesAndPooledMatchReference() throws {
        let enc = try Self.encoder()
        XCTAssertEqual(enc.model.backend.dtype, .float32)
        let file = try Fixtures.load("encoder_cases.json")
        let ref = try SafeTensorsFile(TestPaths.fixtures.appendingPathComponent("encoder_outputs.safetensors"))
        XCTAssertGreaterThanOrEqual(file.cases.count, 20)
        var ids: [[Int32]] = []
        for c in file.cases {
            let tok = try enc.tokenizer.encode(c.text, maxTokens: c.max_tokens)
            XCTAssertEqual(tok.ids, c.ids, "ids of \"\(c.text.prefix(40))\"")
            ids.append(tok.ids)
        }
        let batch = try enc.forward(ids)
        var worstHidden: Float = 0, worstCos = 1.0
        for (i, c) in file.cases.enumerated() {
            let h = try ref.floats("case\(i).last_hidden_state", shape: [c.ids.count, 384])
            let p = try ref.floats("case\(i).pooled", shape: [384])
            let err = Self.maxAbs(batch[i].hidden, h)
            let cos = Self.cosine(batch[i].pooled, p)
            worstHidden = max(worstHidden, err); worstCos = min(worstCos, cos)
            XCTAssertLessThan(err, 1e-4, "hidden states of \"\(c.text.prefix(40))\" (\(c.ids.count) tokens)")
            XCTAssertGreaterThan(cos, 0.9999, "pooled vector of \"\(c.text.prefix(40))\"")
        }
        // One by one (no padding, no mask) for a few, including the longest.
        let longest = file.cases.indices.max { file.cases[$0].ids.count < file.cases[$1].ids.count }!
        for i in [0, 1, longest] {
            let single = try enc.forward([ids[i]])[0]
            let h = try ref.floats("case\(i).last_hidden_state")
            let err = Self.maxAbs(single.hidden, h)
            worstHidden = max(worstHidden, err)
            XCTAssertLessThan(err, 1e-4, "unbatched hidden states of case \(i)")
            XCTAssertLessThan(Self.maxAbs(single.hidden, batch[i].hidden), 1e-4, "batched vs unbatched, case \(i)")
        }
        print("EncoderTests: \(file.cases.count) strings, max abs error \(worstHidden), min pooled cosine \(worstCos)")
    }

    func testEncodeCachesByText() throws {
        let enc = try Self.encoder()
        let text = "a small cached caption \(UUID().uuidString.prefix(4))"
        let hits = enc.cache.hits
        let a = try enc.encode(text)
        let b = try enc.encode(text)
        XCTAssertEqual(a, b)
        XCTAssertEqual(enc.cache.hits, hits + 1)
        XCTAssertEqual(a.count, a.tokenIDs.count)
        XCTAssertEqual(a.hidden.count, a.count * 384)
        XCTAssertEqual(a.mask, [Float](repeating: 1, count: a.count))
        XCTAssertEqual(a.pooled.count, 384)
        let norm = a.pooled.reduce(0) { $0 + $1 * $1 }.squareRoot()
        XCTAssertEqual(norm, 1, accuracy: 1e-5)
        // Batch: order kept, duplicates fine, padding on request.
        let many = try enc.encode(batch: ["two red stars", text, "two red stars"], padTo: 12)
        XCTAssertEqual(many.count, 3)
        XCTAssertEqual(many[1].tokenIDs.prefix(a.count), a.tokenIDs[...])
        XCTAssertEqual(many[0], many[2])
        XCTAssertEqual(many[0].count, 12)
        XCTAssertEqual(many[0].mask.filter { $0 == 1 }.count, 5)   // [CLS] two red stars [SEP]
    }

    func testEmptyPromptAndTruncationWarning() throws {
        let enc = try Self.encoder()
        XCTAssertThrowsError(try enc.encode("  \n ")) { XCTAssertTrue("\($0)".contains("prompt is"), "\($0)") }
        let empty = try enc.encode("", allowEmpty: true)
        XCTAssertEqual(empty.tokenIDs, [enc.tokenizer.clsID, enc.tokenizer.sepID])
        XCTAssertThrowsError(try enc.encode(""), "a cached empty embedding must not bypass the check")
        var warnings: [String] = []
        let saved = enc.warn
        enc.warn = { warnings.append($0) }
        defer { enc.warn = saved }
        let long = try enc.encode(String(repeating: "stars and circles ", count: 40))
        XCTAssertEqual(long.count, 77)
        XCTAssertEqual(warnings.count, 1)
        XCTAssertTrue(warnings.first?.contains("truncated") ?? false)
    }

    func testDiskCacheRoundTrip() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("muse-te-cache-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let enc = try Self.encoder()
        let e = try enc.encode("three blue stars on a light blue background")
        let c1 = EmbeddingCache(capacity: 0, directory: dir, fingerprint: "fp")
        XCTAssertNil(c1.lookup("three blue stars on a light blue background"))
        c1.store("three blue stars on a light blue background", e)
        let c2 = EmbeddingCache(capacity: 10, directory: dir, fingerprint: "fp")
        XCTAssertEqual(c2.lookup("three blue stars on a light blue background"), e)
        let other = EmbeddingCache(capacity: 10, directory: dir, fingerprint: "another model")
        XCTAssertNil(other.lookup("three blue stars on a light blue background"))
    }

    /// The disk cache's key covers the weights' bytes (not just their name and
    /// size), the backend's arithmetic and max_tokens; without a disk cache nothing is hashed.
    func testCacheFingerprintCoversWeightsContentAndSettings() throws {
        XCTAssertEqual(try Self.encoder().cache.fingerprint, "in-memory")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("muse-fp-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let enc = try TextEncoder(modelDirectory: try ModelFiles.require(), maxTokens: 77, cacheDirectory: dir, backend: OpenBLASBackend())
        let weights = enc.modelDirectory.appendingPathComponent("model.safetensors")
        let start = Date()
        let hash = try TextEncoder.contentHash(weights)
        print("EncoderTests: content hash of \(weights.lastPathComponent) took \(String(format: "%.3f", Date().timeIntervalSince(start))) s")
        XCTAssertTrue(enc.cache.fingerprint.contains("weights-\(hash)"), enc.cache.fingerprint)
        XCTAssertTrue(enc.cache.fingerprint.hasSuffix("/F32/max77"), enc.cache.fingerprint)
        XCTAssertEqual(enc.cache.dim, 384)
    }

    func testMemoryCacheEvictsLeastRecentlyUsed() throws {
        let e = TextEmbedding(tokenIDs: [101, 102], hidden: [Float](repeating: 0, count: 2 * 4), dim: 4, mask: [1, 1], pooled: [1, 0, 0, 0])
        let c = EmbeddingCache(capacity: 8, fingerprint: "fp")
        for i in 0..<8 { c.store("p\(i)", e) }
        XCTAssertNotNil(c.lookup("p0"))          // p0 is now the most recent
        c.store("p8", e)
        XCTAssertLessThanOrEqual(c.count, 8)
        XCTAssertNotNil(c.lookup("p0"))
        XCTAssertNil(c.lookup("p1"))
    }
}
