import Foundation
import MuseCore

/// Iterative parallel decoding (MaskGIT; Muse section 2.8): at each of `steps` steps
/// the model predicts every masked token; a token is drawn for each (temperature,
/// top-k); the most confident draws are kept so that the masked count follows the
/// schedule, with Gumbel noise of scale `choiceTemperature x (1 - progress)` added to
/// the confidences (log-probabilities). Classifier-free guidance batches the
/// conditional and unconditional passes of all items into one model call
/// (`GuidedDecoding`, MuseCore).
public struct MaskGITSampler: Sendable {
    public var settings = SamplerSettings()
    public var choiceTemperature = 4.5

    /// The config keys of `sampler.maskgit` (`muse-run --describe`, the docs and
    /// `muse-train eval-base`'s option checks all read them): the shared sampler
    /// settings and the choice temperature.
    public static let configKeys: [ConfigKey] = SamplerSettings.configKeys + [
        ConfigKey("choice_temperature", .float, default: .float(4.5), range: 0...1000,
                  doc: "scale of the Gumbel noise added to the confidences, annealed as (1 - progress); 0 keeps the plain most-confident tokens"),
    ]

    public init() {}

    /// Token grids (ids, row-major) for `items`, all decoded together.
    /// - Parameter progress: called after each step with (step, steps).
    public func sample(_ model: any TokenModel, _ items: [SamplingItem], progress: (Int, Int) throws -> Void = { _, _ in }) throws -> [[Int32]] {
        let T = model.info.tokens, V = model.info.vocabularySize, N = items.count
        guard N > 0 else { return [] }
        var d = try GuidedDecoding(model: model, items: items, guidance: settings.guidance)
        var rngs = items.map { SeededRNG(seed: $0.seed) }
        let initial = (0..<N).map { n in (0..<T).filter { d.masked[n * T + $0] }.count }
        let steps = settings.steps
        for step in 1...steps {
            if !d.masked.contains(true) { break }
            let logits = try d.logits(step: step, of: steps)
            let noise = choiceTemperature * (1 - Double(step) / Double(steps))
            for n in 0..<N {
                var confidence: [(t: Int, c: Double)] = []
                var drawn = [Int32](repeating: 0, count: T)
                logits.withUnsafeBufferPointer { p in
                    for t in 0..<T where d.masked[n * T + t] {
                        let x = TokenDraw.sample(p.baseAddress! + (n * T + t) * V, count: V, temperature: settings.temperature,
                                                 topK: settings.topK, rng: &rngs[n])
                        drawn[t] = Int32(x.id)
                        confidence.append((t, x.logProb + noise * TokenDraw.gumbel(&rngs[n])))
                    }
                }
                let keepMasked = settings.schedule.maskedAfter(step: step, of: steps, initial: initial[n], current: confidence.count)
                // Reveal the most confident; the `keepMasked` least confident stay masked.
                confidence.sort { $0.c > $1.c || ($0.c == $1.c && $0.t < $1.t) }
                for (t, _) in confidence.prefix(confidence.count - keepMasked) {
                    d.ids[n * T + t] = drawn[t]
                    d.masked[n * T + t] = false
                }
            }
            try progress(step, steps)
        }
        return (0..<N).map { d.grid($0) }
    }
}
