import Foundation
import MuseCore

/// A sampler with a fixed spatial order instead of confidence: tokens are revealed
/// in the order a 2D Halton sequence (bases 2 and 3) visits the grid's cells, so
/// every step fills positions spread evenly over the image, far from each other
/// (the "Halton scheduler" for masked generative models, Besnier et al. 2025).
/// How many per step follows the same mask schedule as MaskGIT; each revealed
/// token is drawn from the guided distribution (temperature, top-k).
public struct HaltonSampler: Sendable {
    public var settings = SamplerSettings()

    public init() {}

    /// The first `n` terms' cells of the Halton sequence (base 2 across, base 3 down)
    /// on a `height x width` grid, each cell once: a permutation of `0..<height*width`.
    public static func order(height: Int, width: Int) -> [Int] {
        func radicalInverse(_ i: Int, _ base: Int) -> Double {
            var f = 1.0, r = 0.0, i = i
            while i > 0 { f /= Double(base); r += f * Double(i % base); i /= base }
            return r
        }
        var seen = [Bool](repeating: false, count: height * width)
        var out: [Int] = []
        var i = 1
        while out.count < height * width {
            let x = Int(radicalInverse(i, 2) * Double(width)), y = Int(radicalInverse(i, 3) * Double(height))
            let c = min(height - 1, y) * width + min(width - 1, x)
            if !seen[c] { seen[c] = true; out.append(c) }
            i += 1
            if i > 1_000_000 { break }   // cannot happen for grids up to 128x128; a guard, not a path
        }
        for c in 0..<(height * width) where !seen[c] { out.append(c) }
        return out
    }

    public func sample(_ model: any TokenModel, _ items: [SamplingItem], progress: (Int, Int) throws -> Void = { _, _ in }) throws -> [[Int32]] {
        let info = model.info, T = info.tokens, V = info.vocabularySize, N = items.count
        guard N > 0 else { return [] }
        var d = try GuidedDecoding(model: model, items: items, guidance: settings.guidance)
        var rngs = items.map { SeededRNG(seed: $0.seed) }
        let order = HaltonSampler.order(height: info.gridHeight, width: info.gridWidth)
        // Each item's masked positions, in Halton order.
        var queues = (0..<N).map { n in order.filter { d.masked[n * T + $0] } }
        let initial = queues.map { $0.count }
        let steps = settings.steps
        for step in 1...steps {
            if !d.masked.contains(true) { break }
            let logits = try d.logits(step: step, of: steps)
            for n in 0..<N {
                let current = queues[n].count
                guard current > 0 else { continue }
                let keep = settings.schedule.maskedAfter(step: step, of: steps, initial: initial[n], current: current)
                let reveal = queues[n].prefix(current - keep)
                logits.withUnsafeBufferPointer { p in
                    for t in reveal {
                        let x = TokenDraw.sample(p.baseAddress! + (n * T + t) * V, count: V, temperature: settings.temperature,
                                                 topK: settings.topK, rng: &rngs[n])
                        d.ids[n * T + t] = Int32(x.id)
                        d.masked[n * T + t] = false
                    }
                }
                queues[n].removeFirst(reveal.count)
            }
            try progress(step, steps)
        }
        return (0..<N).map { d.grid($0) }
    }
}
