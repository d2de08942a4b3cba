import XCTest
import Foundation
import MuseCore
import MuseData
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
    var settings = "bytes dim=4"
    /// Values of the pooled vector (the layout wants 4, the hidden width).
    var pooledWidth = 4
    var calls = 0
    init(weights: URL) { weightsFile = weights }
    func encode(_ texts: [String]) throws -> [TextEmbedding] {
        calls += 1
        return texts.map { t in
            let b = Array(t.utf8)
            return TextEmbedding(tokenIDs: b.map { Int32($0) }, hidden: b.flatMap { v in (0..<4).map { Float(v) / Float($0 + 1) } },
                                 dim: 4, mask: [Float](repeating: 1, count: b.count), pooled: (0..<pooledWidth).map { Float(b.count) / Float($0 + 1) })
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

    /// Marks every other manifest line `eval` (the rest stay `train`).
    private func splitManifest(_ root: URL) throws {
        let url = root.appendingPathComponent("manifest.jsonl")
        let lines = try String(contentsOf: url, encoding: .utf8).split(separator: "\n")
        let edited = try lines.enumerated().map { n, line -> String in
            var r = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            if n % 2 == 1 { r["split"] = "eval" }
            return String(decoding: try JSONSerialization.data(withJSONObject: r, options: [.sortedKeys]), as: UTF8.self)
        }
        try (edited.joined(separator: "\n") + "\n").write(to: url, atomically: true, encoding: .utf8)
    }

    func testTokenCacheHasOneFilePerSplit() throws {
        let root = dir.appendingPathComponent("scenes")
        try splitManifest(root)
        let train = try DataSet(root: root, split: "train"), eval = try DataSet(root: root, split: "eval")
        XCTAssertEqual(train.items.count, 12); XCTAssertEqual(eval.items.count, 11)
        let weights = dir.appendingPathComponent("tok.safetensors")
        try Data("weights v1".utf8).write(to: weights)
        let cacheDir = dir.appendingPathComponent("cache")
        let trainCache = try TokenCache(directory: cacheDir, dataset: train, size: 64, tokenizer: PatchColourTokenizer(weights: weights))
        let evalTok = PatchColourTokenizer(weights: weights)
        let evalCache = try TokenCache(directory: cacheDir, dataset: eval, size: 64, tokenizer: evalTok)
        XCTAssertEqual(evalTok.calls, 1, "the eval split is tokenised, not read from the train split's file")
        XCTAssertNotEqual(trainCache.url, evalCache.url)
        // Item k of each split is that split's own image.
        for (ds, cache) in [(train, trainCache), (eval, evalCache)] {
            let direct = try PatchColourTokenizer(weights: weights).encode([try ds.image(ds.items[3], size: 64)])[0]
            XCTAssertEqual(try cache.tokens(item: 3), direct)
        }
        XCTAssertNotEqual(try trainCache.tokens(item: 3), try evalCache.tokens(item: 3))
    }

    func testCorruptTokenCacheIsRebuilt() throws {
        let ds = try DataSet(root: dir.appendingPathComponent("scenes"))
        let weights = dir.appendingPathComponent("tok.safetensors")
        try Data("weights v1".utf8).write(to: weights)
        let cacheDir = dir.appendingPathComponent("cache")
        let good = try TokenCache(directory: cacheDir, dataset: ds, size: 64, tokenizer: PatchColourTokenizer(weights: weights))
        let expected = try good.tokens(item: 5)
        // Ids beyond Int32 (once a trap), then a wrong shape, then not safetensors at all.
        var outOfRange = SafeTensorsWriter()
        try outOfRange.add("ids", ints: [Int64](repeating: 1 << 40, count: 23 * 16), shape: [23, 4, 4])
        var wrongShape = SafeTensorsWriter()
        try wrongShape.add("ids", ints: [Int64](repeating: 1, count: 22 * 16), shape: [22, 4, 4])
        let damaged: [Data] = [try outOfRange.serialized(), try wrongShape.serialized(), Data("not a cache".utf8)]
        for bytes in damaged {
            try bytes.write(to: good.url)
            let tok = PatchColourTokenizer(weights: weights)
            let rebuilt = try TokenCache(directory: cacheDir, dataset: ds, size: 64, tokenizer: tok)
            XCTAssertGreaterThan(tok.calls, 0, "a damaged cache file is rebuilt")
            XCTAssertEqual(rebuilt.url, good.url)
            XCTAssertEqual(try rebuilt.tokens(item: 5), expected)
            let again = PatchColourTokenizer(weights: weights)
            XCTAssertEqual(try TokenCache(directory: cacheDir, dataset: ds, size: 64, tokenizer: again).tokens(item: 5), expected)
            XCTAssertEqual(again.calls, 0, "the rebuilt file is read back")
        }
    }

    func testCorruptTextCacheFileIsAMissAndRewritten() throws {
        let textWeights = dir.appendingPathComponent("text.safetensors")
        try Data("text".utf8).write(to: textWeights)
        let cacheDir = dir.appendingPathComponent("cache")
        let enc = ByteEncoder(weights: textWeights)
        let caption = "two red stars"
        let expected = try enc.encode([caption])[0]
        let first = try TextEmbeddingCache(directory: cacheDir, encoder: enc)
        XCTAssertEqual(try first.embeddings([caption]), [expected])
        let files = try FileManager.default.contentsOfDirectory(at: try XCTUnwrap(first.directory), includingPropertiesForKeys: nil)
        XCTAssertEqual(files.count, 1)
        let file = try XCTUnwrap(files.first)
        // The shared layout is what is on disk.
        let stored = try SafeTensorsFile(file)
        XCTAssertEqual(stored.names, ["attention_mask", "input_ids", "last_hidden_state", "pooled"])
        XCTAssertEqual(try TextEmbedding(safetensors: stored), expected)

        // Damaged entries with the right metadata: ids beyond Int32, shapes that disagree, garbage.
        func entry(ids: [Int64], hiddenShape: [Int], mask: [Int64]) throws -> Data {
            var w = SafeTensorsWriter()
            try w.add("input_ids", ints: ids, shape: [ids.count])
            try w.add("last_hidden_state", [Float](repeating: 0, count: hiddenShape.reduce(1, *)), shape: hiddenShape)
            try w.add("attention_mask", ints: mask, shape: [mask.count])
            w.metadata = ["text": caption, "fingerprint": first.fingerprint]
            return try w.serialized()
        }
        let damaged: [Data] = [
            try entry(ids: [1 << 40, 2], hiddenShape: [2, 4], mask: [1, 1]),
            try entry(ids: [1, 2], hiddenShape: [3, 4], mask: [1, 1]),
            try entry(ids: [1, 2], hiddenShape: [2, 4], mask: [1]),
            try entry(ids: [1, 2], hiddenShape: [2, 4], mask: [1, 7]),
            Data("garbage".utf8),
        ]
        for bytes in damaged {
            try bytes.write(to: file)
            let e = ByteEncoder(weights: textWeights)
            let cache = try TextEmbeddingCache(directory: cacheDir, encoder: e)
            XCTAssertEqual(try cache.embeddings([caption]), [expected])
            XCTAssertEqual(cache.encoded, 1, "a damaged file is a miss")
            let reread = try TextEmbeddingCache(directory: cacheDir, encoder: ByteEncoder(weights: textWeights))
            XCTAssertEqual(try reread.embeddings([caption]), [expected])
            XCTAssertEqual(reread.encoded, 0, "the miss rewrote the file")
        }

        // Other encoder settings or other weights: another fingerprint, another file, encoded again.
        let other = ByteEncoder(weights: textWeights)
        other.settings = "bytes dim=4 max_tokens=8"
        let otherCache = try TextEmbeddingCache(directory: cacheDir, encoder: other)
        XCTAssertNotEqual(otherCache.fingerprint, first.fingerprint)
        XCTAssertNotEqual(otherCache.fileURL(caption), first.fileURL(caption))
        _ = try otherCache.embeddings([caption])
        XCTAssertEqual(otherCache.encoded, 1)
        // The fingerprint is the weights' SHA-256 (swift-crypto) and the settings.
        XCTAssertEqual(first.fingerprint, "sha256-\(SHA256.hex(SHA256.hash("text")))/bytes dim=4")
        // The text encoder stage's cache is the same type with the same file names.
        let stageLike = TextEmbeddingCache(capacity: 0, directory: cacheDir, fingerprint: first.fingerprint)
        XCTAssertEqual(stageLike.lookup(caption), expected)
        // An encoder whose output the layout cannot hold is an error, not a silent miss forever.
        let broken = ByteEncoder(weights: textWeights)
        broken.pooledWidth = 1
        XCTAssertThrowsError(try TextEmbeddingCache(directory: dir.appendingPathComponent("cache2"), encoder: broken).embeddings([caption])) {
            XCTAssertTrue("\($0)".contains("pooled vector of 1 values"), "\($0)")
        }
    }

    func testResumeStateIsValidated() throws {
        let ds = try DataSet(root: dir.appendingPathComponent("scenes"))
        let good = try DataLoader(dataset: ds, batchSize: 5, seed: 42).state
        func check(_ edit: (inout LoaderState) -> Void, mentions words: [String]) {
            var s = good
            edit(&s)
            XCTAssertThrowsError(try DataLoader(dataset: ds, batchSize: 5, seed: 42, resume: s)) { error in
                let m = "\(error)"
                XCTAssertTrue(error is MuseError, m)
                for w in words + [ds.root.path] { XCTAssertTrue(m.contains(w), "\(m) should mention \(w)") }
            }
        }
        check({ $0.position = 24 }, mentions: ["position 24", "0...23"])
        check({ $0.position = -1 }, mentions: ["position -1"])
        check({ $0.epoch = -2 }, mentions: ["epoch -2"])
        check({ $0.captionRNG = [1, 2, 3] }, mentions: ["caption generator", "4 words"])
        check({ $0.captionRNG = [0, 0, 0, 0] }, mentions: ["caption generator", "not all zero"])
        // The edges are fine: the end of an epoch resumes into the next one.
        var end = good
        end.position = 23
        var loader = try DataLoader(dataset: ds, batchSize: 5, seed: 42, resume: end)
        loader.loadImages = false
        XCTAssertEqual(loader.nextIndices().items, Array(loader.permutation(epoch: 1).prefix(5)))
        XCTAssertEqual(loader.state.epoch, 1)
    }
}
