import Foundation

/// A small, fast, seedable generator (xoshiro256**, seeded through SplitMix64)
/// whose whole state can be saved in a checkpoint and restored bit-for-bit.
public struct SeededRNG: RandomNumberGenerator, Sendable {
    public var state: (UInt64, UInt64, UInt64, UInt64)

    public init(seed: UInt64) {
        var s = seed
        func splitmix() -> UInt64 {
            s &+= 0x9E37_79B9_7F4A_7C15
            var z = s
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        state = (splitmix(), splitmix(), splitmix(), splitmix())
    }

    public init(stateWords w: [UInt64]) {
        precondition(w.count == 4)
        state = (w[0], w[1], w[2], w[3])
    }
    public var stateWords: [UInt64] { [state.0, state.1, state.2, state.3] }

    @inline(__always) private static func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    public mutating func next() -> UInt64 {
        let result = SeededRNG.rotl(state.1 &* 5, 7) &* 9
        let t = state.1 << 17
        state.2 ^= state.0; state.3 ^= state.1; state.1 ^= state.2; state.0 ^= state.3
        state.2 ^= t
        state.3 = SeededRNG.rotl(state.3, 45)
        return result
    }

    /// Uniform in [0, 1).
    public mutating func uniform() -> Float { Float(next() >> 40) * (1.0 / Float(1 << 24)) }
    /// Uniform in [0, 1) with double precision.
    public mutating func uniformDouble() -> Double { Double(next() >> 11) * (1.0 / Double(UInt64(1) << 53)) }
    /// Standard normal (Box-Muller).
    public mutating func normal() -> Float {
        let u1 = max(uniformDouble(), 1e-300), u2 = uniformDouble()
        return Float((-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2))
    }
    /// Uniform integer in 0..<n.
    public mutating func int(_ n: Int) -> Int { Int(next() % UInt64(n)) }

    /// Shuffles `array` in place (Fisher-Yates), reproducibly for a given state.
    public mutating func shuffle<T>(_ array: inout [T]) {
        guard array.count > 1 else { return }
        for i in stride(from: array.count - 1, to: 0, by: -1) { array.swapAt(i, int(i + 1)) }
    }

    /// Derives a seed from a parent seed and a name (stable across runs/platforms: FNV-1a).
    public static func derive(_ seed: UInt64, _ name: String) -> UInt64 {
        FNV1a.hash(name.utf8, seed: FNV1a.offsetBasis ^ seed)
    }
}

/// 64-bit FNV-1a: a small, stable, non-cryptographic hash (seeds, cache file names).
public enum FNV1a {
    public static let offsetBasis: UInt64 = 0xcbf2_9ce4_8422_2325
    public static func hash(_ bytes: some Sequence<UInt8>, seed: UInt64 = offsetBasis) -> UInt64 {
        var h = seed
        for b in bytes { h ^= UInt64(b); h = h &* 0x100_0000_01b3 }
        return h
    }

    /// `hash(bytes)` as 16 lowercase hex digits (cache keys and file names).
    public static func hex(_ bytes: some Sequence<UInt8>) -> String {
        String(format: "%016llx", hash(bytes))
    }
}
