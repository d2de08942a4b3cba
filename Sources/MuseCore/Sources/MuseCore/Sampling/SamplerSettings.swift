import Foundation

/// The settings every iterative sampler shares, with their config keys (one place
/// for `muse-run --describe` and the docs): steps, mask schedule, guidance and
/// its ramp, sampling temperature, top-k.
public struct SamplerSettings: Sendable, Equatable {
    public var steps = 24
    public var schedule = MaskSchedule.cosine
    public var guidance = Guidance(scale: 3, ramp: .linear)
    public var temperature = 1.0
    public var topK = 0

    public init() {}

    public static let configKeys: [ConfigKey] = [
        ConfigKey("steps", .int, default: .int(24), range: 1...1024, doc: "decoding steps (Muse: 24 for the base model, 8 for super-resolution)"),
        ConfigKey("schedule", .string, default: .string("cosine"), choices: MaskSchedule.allCases.map(\.rawValue),
                  doc: "fraction still masked after a fraction r of the steps: cosine cos(pi/2 r), linear 1-r, square 1-r^2, sqrt 1-sqrt(r), exp, arccos (2/pi) acos(r)"),
        ConfigKey("guidance", .float, default: .float(3), range: 0...100,
                  doc: "classifier-free guidance scale s: logits (1+t) cond - t uncond with t ramped to s (0: no guidance, one model pass per step)"),
        ConfigKey("guidance_schedule", .string, default: .string("linear"), choices: Guidance.Ramp.allCases.map(\.rawValue),
                  doc: "linear: t goes from s/steps up to s over the steps (the paper); constant: t = s at every step"),
        ConfigKey("temperature", .float, default: .float(1), range: 0.01...100, doc: "sampling temperature of each token draw"),
        ConfigKey("top_k", .int, default: .int(0), range: 0...1_000_000, doc: "draw each token from the k most likely ids only (0: all)"),
    ]

    /// Reads the keys of `configKeys` from a stage config (the host has type-checked them).
    public init(_ c: StageConfig) throws {
        steps = try c.int("steps")
        let s = try c.string("schedule")
        guard let sched = MaskSchedule(rawValue: s) else { throw MuseError("schedule '\(s)' is not one of \(MaskSchedule.allCases.map(\.rawValue))") }
        schedule = sched
        let r = try c.string("guidance_schedule")
        guard let ramp = Guidance.Ramp(rawValue: r) else { throw MuseError("guidance_schedule '\(r)' is not one of \(Guidance.Ramp.allCases.map(\.rawValue))") }
        guidance = Guidance(scale: try c.float("guidance"), ramp: ramp)
        temperature = try c.float("temperature")
        topK = try c.int("top_k")
    }
}

/// Starting state and guided model calls shared by samplers: the grids (masked
/// where they are to be generated), the conditionings prepared once (N prompts,
/// then N unconditional slots holding the negative prompts, when guided), and
/// one model call per step for all of them.
public struct GuidedDecoding {
    public let model: any TokenModel
    public let guidance: Guidance
    public let count: Int
    /// Current ids, `count x info.tokens` (`info.maskID` where still masked).
    public var ids: [Int32]
    /// Positions still masked.
    public var masked: [Bool]
    let prepared: PreparedConditioning

    public init(model: any TokenModel, items: [SamplingItem], guidance: Guidance) throws {
        let info = model.info, T = info.tokens, V = info.vocabularySize, N = items.count
        self.model = model; self.guidance = guidance; count = N
        ids = [Int32](repeating: Int32(info.maskID), count: N * T)
        masked = [Bool](repeating: true, count: N * T)
        for (n, item) in items.enumerated() {
            guard let initial = item.initial else { continue }
            guard initial.count == T, let regen = item.regenerate, regen.count == T else {
                throw MuseError("sampler: starting tokens need \(T) ids and a regeneration mask of \(T) entries")
            }
            for t in 0..<T where !regen[t] {
                guard initial[t] >= 0 && Int(initial[t]) < V else { throw MuseError("sampler: starting token id \(initial[t]) outside 0..<\(V)") }
                ids[n * T + t] = initial[t]
                masked[n * T + t] = false
            }
        }
        var conds = items.map { TokenConditioning(text: $0.text) }
        if guidance.scale != 0 { conds += items.map { TokenConditioning(text: $0.negative) } }
        prepared = try model.prepare(conds)
    }

    /// Guided logits of every grid at step `step` of `steps`: `count x tokens x vocabularySize`.
    public func logits(step: Int, of steps: Int) throws -> [Float] {
        let info = model.info, n = count * info.tokens * info.vocabularySize
        let guided = guidance.scale != 0
        var logits = try model.logits(tokens: guided ? ids + ids : ids, conditioning: prepared)
        guard logits.count == (guided ? 2 : 1) * n else {
            throw MuseError("sampler: the model returned \(logits.count) logits, expected \((guided ? 2 : 1) * n)")
        }
        if guided {
            let t = guidance.strength(step: step, of: steps)
            logits.withUnsafeMutableBufferPointer { p in Guidance.combine(p.baseAddress!, p.baseAddress! + n, count: n, t: t) }
            logits.removeLast(n)
        }
        return logits
    }

    /// Grid `n`'s ids.
    public func grid(_ n: Int) -> [Int32] { let T = model.info.tokens; return Array(ids[(n * T)..<((n + 1) * T)]) }
}
