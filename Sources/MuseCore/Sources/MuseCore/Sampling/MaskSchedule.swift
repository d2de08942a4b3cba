import Foundation

/// How many tokens stay masked as decoding progresses: gamma(r) is the fraction
/// of the initially masked tokens still masked after a fraction r of the steps
/// (gamma(0) = 1, gamma(1) = 0, decreasing). MaskGIT section 3.2; Muse uses cosine.
public enum MaskSchedule: String, CaseIterable, Sendable {
    /// cos(pi/2 r): few tokens first, most at the end (the default).
    case cosine
    /// 1 - r.
    case linear
    /// 1 - r^2.
    case square
    /// 1 - sqrt(r): many tokens first.
    case sqrt
    /// (e^(-5r) - e^(-5)) / (1 - e^(-5)): most tokens in the first steps.
    case exp
    /// (2/pi) arccos(r) (Muse's paper names it for its masking distribution).
    case arccos

    /// gamma(r) for r in [0, 1].
    public func masked(_ r: Double) -> Double {
        let r = min(1, max(0, r))
        switch self {
        case .cosine: return cos(Double.pi / 2 * r)
        case .linear: return 1 - r
        case .square: return 1 - r * r
        case .sqrt: return 1 - r.squareRoot()
        case .exp: return (Foundation.exp(-5 * r) - Foundation.exp(-5)) / (1 - Foundation.exp(-5))
        case .arccos: return 2 / Double.pi * acos(r)
        }
    }

    /// Tokens still masked after step `step` (1-based) of `steps`, out of `initial`
    /// masked ones, given `current` masked before the step: floor(initial x gamma),
    /// but at least one token is revealed per step and all are revealed at the last.
    public func maskedAfter(step: Int, of steps: Int, initial: Int, current: Int) -> Int {
        if step >= steps { return 0 }
        let target = Int((Double(initial) * masked(Double(step) / Double(steps))).rounded(.down))
        return max(0, min(target, current - 1))
    }
}
