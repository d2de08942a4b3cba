import Foundation
import MuseCore

/// Draws a token from one position's logits: temperature, optional top-k, then a
/// sample from the softmax. Returns the id and its log-probability under the
/// tempered, truncated distribution (the token's confidence).
public enum TokenDraw {
    public static func sample(_ logits: UnsafePointer<Float>, count V: Int, temperature: Double, topK: Int,
                              rng: inout SeededRNG) -> (id: Int, logProb: Double) {
        let tau = max(1e-6, temperature)
        var z = [Double](repeating: 0, count: V)
        for v in 0..<V { z[v] = Double(logits[v]) / tau }
        if topK > 0 && topK < V {
            // The k-th largest value: positions below it are excluded.
            let threshold = z.sorted(by: >)[topK - 1]
            for v in 0..<V where z[v] < threshold { z[v] = -Double.infinity }
        }
        let m = z.max() ?? 0
        // Unnormalized probabilities, computed once (the draw below walks the same values).
        var p = [Double](repeating: 0, count: V)
        var sum = 0.0
        for v in 0..<V { p[v] = Foundation.exp(z[v] - m); sum += p[v] }
        let lse = m + Foundation.log(sum)
        var u = rng.uniformDouble() * sum
        var chosen = V - 1
        for v in 0..<V {
            if u < p[v] && p[v] > 0 { chosen = v; break }
            u -= p[v]
        }
        while z[chosen] == -Double.infinity && chosen > 0 { chosen -= 1 }
        return (chosen, z[chosen] - lse)
    }

    /// A standard Gumbel draw, -log(-log u).
    public static func gumbel(_ rng: inout SeededRNG) -> Double {
        let u = max(1e-12, min(1 - 1e-12, rng.uniformDouble()))
        return -Foundation.log(-Foundation.log(u))
    }
}
