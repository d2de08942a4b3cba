import Foundation

/// Classifier-free guidance (Muse section 2.8): l = (1 + t) l_cond - t l_uncond,
/// where t goes from 0 up to the guidance scale over the decoding steps (linear)
/// or stays at the scale (constant).
public struct Guidance: Sendable, Equatable {
    public enum Ramp: String, CaseIterable, Sendable { case linear, constant }
    public var scale: Double
    public var ramp: Ramp

    public init(scale: Double, ramp: Ramp) { self.scale = scale; self.ramp = ramp }

    /// t at step `step` (1-based) of `steps`: scale x step/steps (linear) or scale.
    public func strength(step: Int, of steps: Int) -> Double {
        switch ramp {
        case .constant: return scale
        case .linear: return scale * Double(step) / Double(max(1, steps))
        }
    }

    /// Writes (1 + t) cond - t uncond into `cond` (both `count` floats).
    public static func combine(_ cond: UnsafeMutablePointer<Float>, _ uncond: UnsafePointer<Float>, count: Int, t: Double) {
        let a = Float(1 + t), b = Float(t)
        for i in 0..<count { cond[i] = a * cond[i] - b * uncond[i] }
    }
}
