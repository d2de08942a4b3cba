import Foundation
import MuseCore
import MuseEngine

/// Timing of the text encoder for the benchmark command (`muse-bench` can call
/// `TextEncoderBenchmark.run(modelDirectory:)` and print `report`):
/// the time to encode one 16-token prompt, and a batch of 64 captions, with
/// the embedding cache bypassed (tokenizer + forward + pooling each time).
public enum TextEncoderBenchmark {
    /// A prompt of exactly 16 tokens, `[CLS]` and `[SEP]` included.
    public static let prompt16 = "three small blue stars and two big red circles on a light blue background"

    /// 64 distinct captions of the project's kind (7 to 14 tokens each).
    public static var captions64: [String] {
        let counts = ["one", "two", "three", "four"]
        let colors = ["red", "blue", "green", "yellow"]
        let shapes = ["stars", "circles", "squares", "triangles"]
        var out: [String] = []
        for (i, n) in counts.enumerated() {
            for c in colors {
                for (k, s) in shapes.enumerated() {
                    let bg = colors[(i + k) % colors.count]
                    out.append(k % 2 == 0 ? "\(n) \(c) \(s) on a light \(bg) background"
                                          : "\(n) \(c) \(s) in the top left corner of a dark \(bg) square")
                }
            }
        }
        return out
    }

    public struct Result: Sendable {
        /// Seconds to create the encoder (read vocabulary, weights).
        public var loadSeconds: Double
        /// Median milliseconds to encode `prompt16` (one forward, batch 1).
        public var singlePromptMs: Double
        /// Median milliseconds to encode the 64 captions (one padded batch).
        public var batch64Ms: Double
        /// Tokens of the longest caption (the batch's padded length).
        public var batchLength: Int
        public var repeats: Int
        public var threads: Int
        /// The backend the encoder ran on (its name).
        public var backend: String

        public var report: String {
            String(format: "text encoder (all-MiniLM-L6-v2, %@, %d BLAS threads): load %.2f s; 16-token prompt %.2f ms; batch of 64 captions (padded to %d tokens) %.1f ms (%.2f ms per caption); median of %d",
                   backend, threads, loadSeconds, singlePromptMs, batchLength, batch64Ms, batch64Ms / 64, repeats)
        }
    }

    /// Loads the encoder from `modelDirectory` and times it.
    public static func run(modelDirectory: URL, repeats: Int = 10) throws -> Result {
        let t0 = DispatchTime.now()
        let enc = try TextEncoder(modelDirectory: modelDirectory, maxTokens: 32, cacheCapacity: 0)
        let load = seconds(since: t0)
        var r = try run(encoder: enc, repeats: repeats)
        r.loadSeconds = load
        return r
    }

    /// Times an existing encoder (its cache is not used).
    public static func run(encoder enc: TextEncoder, repeats: Int = 10) throws -> Result {
        let captions = captions64
        func single() throws { _ = try enc.forward([enc.tokenize(prompt16).ids]) }
        func batch() throws { _ = try enc.forward(captions.map { try enc.tokenize($0).ids }) }
        try single(); try batch()   // warm up
        var s: [Double] = [], b: [Double] = []
        for _ in 0..<max(1, repeats) {
            var t = DispatchTime.now(); try single(); s.append(seconds(since: t) * 1000)
            t = DispatchTime.now(); try batch(); b.append(seconds(since: t) * 1000)
        }
        let length = try captions.map { try enc.tokenize($0).ids.count }.max() ?? 0
        return Result(loadSeconds: 0, singlePromptMs: median(s), batch64Ms: median(b), batchLength: length,
                      repeats: max(1, repeats), threads: Engine.blasThreads, backend: enc.model.backend.name)
    }

    private static func seconds(since t: DispatchTime) -> Double {
        Double(DispatchTime.now().uptimeNanoseconds - t.uptimeNanoseconds) / 1e9
    }

    private static func median(_ v: [Double]) -> Double {
        let s = v.sorted()
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }
}
