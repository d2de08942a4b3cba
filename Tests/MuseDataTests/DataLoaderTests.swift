import XCTest
import Foundation
import MuseCore
import MuseEmoji
import MuseScenes

/// Test tokenizer: the mean colour of each 16x16 patch quantised to 3 bits per channel
/// (a real, deterministic function of the image; it counts how often it is called).
final class PatchColourTokenizer: ImageTokenizing {
    let weightsFile: URL
    var calls = 0
    init(weights: URL) { weightsFile = weights }
    func encode(_ images: [Image]) throws -> [TokenGrid] {
        calls += 1
        return images.map { img in
            let p = 16, gh = img.height / p, gw = img.width / p
            var ids: [Int32] = []
            for gy in 0..<gh { for gx in 0..<gw {
                var m: [Float] = [0, 0, 0]
                for y in 0..<p { for x in 0..<p { let i = img.index(gx * p + x, gy * p + y); for c in 0..<3 { m[c] += img.pixels[i + c] } } }
                let q = m.map { Int32(min(7, Int($0 / Float(p * p) * 8))) }
                ids.append(q[0] << 6 | q[1] << 3 | q[2])
            } }
            return TokenGrid(ids: ids, height: gh, width: gw, codebook: "patch-colour-512")
        }
    }
}

/// Test text encoder: one 4-wide vector per byte of the caption.
final class ByteEncoder: TextEncoding {
    let weightsFile: URL
    var calls = 0
    init(weights: URL) { weightsFile = weights }
    func encode(_ texts: [String]) throws -> [TextEmbedding] {
        calls += 1
        return texts.map { t in
            let b = Array(t.utf8)
            return TextEmbedding(tokenIDs: b.map { Int32($0) }, hidden: b.flatMap { v in (0..<4).map { Float(v) / Float($0 + 1) } },
                                 dim: 4, mask: [Float](repeating: 1, count: b.count), pooled: [Float(b.count)])
        }
    }
}

final class DataLoaderTests: XCTestCase {
    var dir: URL!
    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("muse-loader-\(UUID().uuidString)")
        try SceneDataset.write(to: dir.appendingPathComponent("scenes"), count: 23, generator: SceneGenerator(seed: 1, split: .train))
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    func testEpochsOrderCaptionsAndResume() throws {
        let ds = try DataSet(root: dir.appendingPathComponent("scenes"))
        XCTAssertEqual(ds.kind, "scenes"); XCTAssertEqual(ds.items.count, 23)
        var loader = try DataLoader(dataset: ds, batchSize: 5, seed: 42)
        loader.loadImages = false
        XCTAssertEqual(loader.batchesPerEpoch, 4)
        // One epoch: 4 batches of distinct items; the next batch starts epoch 1.
        var seen: [Int] = []
        for _ in 0..<4 { let (i, c) = loader.nextIndices(); XCTAssertEqual(i.count, 5); seen += i
            for (k, cap) in zip(i, c) { XCTAssertTrue(ds.items[k].captions.contains(cap)) } }
        XCTAssertEqual(Set(seen).count, 20)
        XCTAssertEqual(seen, Array(loader.permutation(epoch: 0).prefix(20)))
        XCTAssertNotEqual(loader.permutation(epoch: 0), loader.permutation(epoch: 1))
        // Save, run on, restore: the same batches follow.
        let saved = try JSONEncoder().encode(loader.state)
        var a: [[Int]] = [], ac: [[String]] = []
        for _ in 0..<6 { let (i, c) = loader.nextIndices(); a.append(i); ac.append(c) }
        XCTAssertEqual(loader.state.epoch, 2)
        var resumed = try DataLoader(dataset: ds, batchSize: 5, seed: 42, resume: try JSONDecoder().decode(LoaderState.self, from: saved))
        resumed.loadImages = false
        for k in 0..<6 { let (i, c) = resumed.nextIndices(); XCTAssertEqual(i, a[k]); XCTAssertEqual(c, ac[k]) }
        // Same seed, same stream; another seed, another order.
        var again = try DataLoader(dataset: ds, batchSize: 5, seed: 42)
        XCTAssertEqual(again.nextIndices().items, Array(seen.prefix(5)))
        var other = try DataLoader(dataset: ds, batchSize: 5, seed: 43)
        XCTAssertNotEqual(other.nextIndices().items, Array(seen.prefix(5)))
        // Without dropLast the short batch is served.
        var all = try DataLoader(dataset: ds, batchSize: 5, seed: 42, dropLast: false)
        XCTAssertEqual((0..<5).map { _ in all.nextIndices().items.count }, [5, 5, 5, 5, 3])
        // Images load at the chosen size.
        var withImages = try DataLoader(dataset: ds, batchSize: 2, seed: 1, size: 64)
        let b = try withImages.nextBatch()
        XCTAssertEqual(b.images?.count, 2); XCTAssertEqual(b.images?[0].width, 64)
        XCTAssertThrowsError(try DataLoader(dataset: ds, batchSize: 24, seed: 1))
    }

    func testTokenAndTextCaches() throws {
        let ds = try DataSet(root: dir.appendingPathComponent("scenes"))
        let weights = dir.appendingPathComponent("tok.safetensors")
        try Data("weights v1".utf8).write(to: weights)
        let cacheDir = dir.appendingPathComponent("cache")
        let tok = PatchColourTokenizer(weights: weights)
        let cache = try TokenCache(directory: cacheDir, dataset: ds, size: 64, tokenizer: tok, chunk: 10)
        XCTAssertEqual(tok.calls, 3)
        XCTAssertEqual(cache.height, 4); XCTAssertEqual(cache.width, 4)
        let direct = try tok.encode([try ds.image(ds.items[7], size: 64)])[0]
        XCTAssertEqual(try cache.tokens(item: 7), direct)
        // Reopening reads the file: the tokenizer is not called again.
        let tok2 = PatchColourTokenizer(weights: weights)
        let reopened = try TokenCache(directory: cacheDir, dataset: ds, size: 64, tokenizer: tok2)
        XCTAssertEqual(tok2.calls, 0)
        XCTAssertEqual(try reopened.tokens(item: 7), direct)
        // New weights: a new cache file.
        try Data("weights v2".utf8).write(to: weights)
        let tok3 = PatchColourTokenizer(weights: weights)
        let fresh = try TokenCache(directory: cacheDir, dataset: ds, size: 64, tokenizer: tok3, chunk: 100)
        XCTAssertEqual(tok3.calls, 1); XCTAssertNotEqual(fresh.url, cache.url)

        let textWeights = dir.appendingPathComponent("text.safetensors")
        try Data("text".utf8).write(to: textWeights)
        let enc = ByteEncoder(weights: textWeights)
        let text = try TextEmbeddingCache(directory: cacheDir, encoder: enc)
        var loader = try DataLoader(dataset: ds, batchSize: 4, seed: 5)
        loader.tokenCache = reopened; loader.textCache = text
        let batch = try loader.nextBatch()
        XCTAssertEqual(batch.tokens?.count, 4); XCTAssertEqual(batch.embeddings?.count, 4)
        XCTAssertEqual(batch.tokens?[0], try reopened.tokens(item: batch.items[0]))
        XCTAssertEqual(batch.embeddings?[1], try enc.encode([batch.captions[1]])[0])
        let encodedOnce = text.encoded
        let text2 = try TextEmbeddingCache(directory: cacheDir, encoder: ByteEncoder(weights: textWeights))
        XCTAssertEqual(try text2.embeddings(batch.captions), batch.embeddings)
        XCTAssertEqual(text2.encoded, 0, "read back from disk")
        XCTAssertEqual(encodedOnce, Set(batch.captions).count)
    }
}
