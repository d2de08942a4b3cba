import Foundation
import MuseCore

/// One grid to generate: its prompt, optional negative prompt, optional starting
/// tokens with the positions to regenerate (editing), and its own seed.
public struct SamplingItem: Sendable {
    public var text: TextEmbedding?
    /// Replaces the empty prompt in the unconditional slot of guidance.
    public var negative: TextEmbedding?
    /// Starting ids (`info.tokens` of them) and which of them to regenerate; nil: generate all.
    public var initial: [Int32]?
    public var regenerate: [Bool]?
    public var seed: UInt64

    public init(text: TextEmbedding?, negative: TextEmbedding? = nil, initial: [Int32]? = nil, regenerate: [Bool]? = nil, seed: UInt64) {
        self.text = text; self.negative = negative; self.initial = initial; self.regenerate = regenerate; self.seed = seed
    }
}

/// Iterative parallel decoding (MaskGIT; Muse section 2.8): at each of `steps` steps
/// the model predicts every masked token; a token is drawn for each (temperature,
/// top-k); the most confident draws are kept so that the masked count follows
/// `schedule`, with Gumbel noise of scale `choiceTemperature x (1 - progress)`
/// added to the confidences (log-probabilities). Classifier-free guidance batches
/// the conditional and unconditional passes of all items into one model call.
public struct MaskGITSampler: Sendable {
    public var steps = 24
    public var schedule = MaskSchedule.cosine
    public var guidance = Guidance(scale: 3, ramp: .linear)
    public var choiceTemperature = 4.5
    public var temperature = 1.0
    public var topK = 0

    public init() {}

    /// Token grids (ids, row-major) for `items`, all decoded together.
    /// - Parameter progress: called after each step with (step, steps).
    public func sample(_ model: any TokenModel, _ items: [SamplingItem], progress: (Int, Int) -> Void = { _, _ in }) throws -> [[Int32]] {
        let info = model.info, T = info.tokens, V = info.vocabularySize, N = items.count
        guard N > 0 else { return [] }
        var ids = [Int32](repeating: Int32(info.maskID), count: N * T)
        var masked = [Bool](repeating: true, count: N * T)
        for (n, item) in items.enumerated() {
            guard let initial = item.initial else { continue }
            guard initial.count == T, let regen = item.regenerate, regen.count == T else {
                throw MuseError("sampler: starting tokens need \(T) ids and a regeneration mask of \(T) entries")
            }
            for t in 0..<T {
                if !regen[t] {
                    guard initial[t] >= 0 && Int(initial[t]) < V else { throw MuseError("sampler: starting token id \(initial[t]) outside 0..<\(V)") }
                    ids[n * T + t] = initial[t]
                    masked[n * T + t] = false
                }
            }
        }
        let guided = guidance.scale != 0
        var conds = items.map { TokenConditioning(text: $0.text) }
        if guided { conds += items.map { TokenConditioning(text: $0.negative) } }
        let prepared = try model.prepare(conds)
        var rngs = items.map { SeededRNG(seed: $0.seed) }
        let initial = (0..<N).map { n in (0..<T).filter { masked[n * T + $0] }.count }
        for step in 1...steps {
            if !masked.contains(true) { break }
            var logits = try model.logits(tokens: guided ? ids + ids : ids, conditioning: prepared)
            guard logits.count == (guided ? 2 : 1) * N * T * V else {
                throw MuseError("sampler: the model returned \(logits.count) logits, expected \((guided ? 2 : 1) * N * T * V)")
            }
            if guided {
                let t = guidance.strength(step: step, of: steps)
                logits.withUnsafeMutableBufferPointer { p in
                    Guidance.combine(p.baseAddress!, p.baseAddress! + N * T * V, count: N * T * V, t: t)
                }
            }
            let noise = choiceTemperature * (1 - Double(step) / Double(steps))
            for n in 0..<N {
                var confidence: [(t: Int, c: Double)] = []
                var drawn = [Int32](repeating: 0, count: T)
                logits.withUnsafeBufferPointer { p in
                    for t in 0..<T where masked[n * T + t] {
                        let d = TokenDraw.sample(p.baseAddress! + (n * T + t) * V, count: V, temperature: temperature, topK: topK, rng: &rngs[n])
                        drawn[t] = Int32(d.id)
                        confidence.append((t, d.logProb + noise * TokenDraw.gumbel(&rngs[n])))
                    }
                }
                let keepMasked = schedule.maskedAfter(step: step, of: steps, initial: initial[n], current: confidence.count)
                // Reveal the most confident; the `keepMasked` least confident stay masked.
                confidence.sort { $0.c > $1.c || ($0.c == $1.c && $0.t < $1.t) }
                for (t, _) in confidence.prefix(confidence.count - keepMasked) {
                    ids[n * T + t] = drawn[t]
                    masked[n * T + t] = false
                }
            }
            progress(step, steps)
        }
        return (0..<N).map { Array(ids[($0 * T)..<(($0 + 1) * T)]) }
    }
}
