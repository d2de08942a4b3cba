import Foundation
import MuseCore

/// `sampler.maskgit`: drives any `token_model` with `MaskGITSampler` (the
/// reference sampler; docs/writing-a-sampler.md walks through it).
final class MaskGITStage: Stage {
    static let spec = StageSpec(
        kind: "sampler.maskgit",
        summary: "Iterative parallel decoding (MaskGIT, Muse section 2.8): each step predicts every masked token and keeps the most confident, following a mask schedule, with classifier-free guidance. Drives any token_model. With starting tokens and a token mask it regenerates only the masked tokens (inpainting, outpainting).",
        config: [
            ConfigKey("steps", .int, default: .int(24), range: 1...1024, doc: "decoding steps (Muse: 24 for the base model, 8 for super-resolution)"),
            ConfigKey("schedule", .string, default: .string("cosine"), choices: MaskSchedule.allCases.map(\.rawValue),
                      doc: "fraction still masked after a fraction r of the steps: cosine cos(pi/2 r), linear 1-r, square 1-r^2, sqrt 1-sqrt(r), exp, arccos (2/pi) acos(r)"),
            ConfigKey("guidance", .float, default: .float(3), range: 0...100,
                      doc: "classifier-free guidance scale s: logits (1+t) cond - t uncond with t ramped to s (0: no guidance, one model pass per step)"),
            ConfigKey("guidance_schedule", .string, default: .string("linear"), choices: Guidance.Ramp.allCases.map(\.rawValue),
                      doc: "linear: t goes from s/steps up to s over the steps (the paper); constant: t = s at every step"),
            ConfigKey("choice_temperature", .float, default: .float(4.5), range: 0...1000,
                      doc: "scale of the Gumbel noise added to the confidences, annealed as (1 - progress); 0 keeps the plain most-confident tokens"),
            ConfigKey("temperature", .float, default: .float(1), range: 0.01...100, doc: "sampling temperature of each token draw"),
            ConfigKey("top_k", .int, default: .int(0), range: 0...1_000_000, doc: "draw each token from the k most likely ids only (0: all)"),
        ],
        inputs: [
            PortSpec("model", .tokenModel, doc: "the transformer to drive (e.g. transformer.base's output)"),
            PortSpec("text", .textEmbedding, doc: "the prompt's embedding (text.encode)"),
            PortSpec("negative", .textEmbedding, optional: true, doc: "a negative prompt: replaces the empty prompt in guidance's unconditional pass"),
            PortSpec("tokens", .tokenGrid, optional: true, doc: "starting tokens (editing); needs token_mask"),
            PortSpec("token_mask", .mask, optional: true,
                     doc: "what to regenerate (1 = regenerate), of the grid's size or any multiple of it (an image-sized mask: a token is regenerated when any pixel of its cell is >= 0.5)"),
        ],
        outputs: [PortSpec("tokens", .tokenGrid, doc: "the generated token grid, with the model's codebook")])

    static let descriptor = StageDescriptor(spec) { try MaskGITStage($0) }

    let sampler: MaskGITSampler

    init(_ c: StageConfig) throws {
        sampler = try MaskGITStage.sampler(c)
    }

    /// The sampler's settings from a stage config.
    static func sampler(_ c: StageConfig) throws -> MaskGITSampler {
        var s = MaskGITSampler()
        s.steps = try c.int("steps")
        guard let sched = MaskSchedule(rawValue: try c.string("schedule")) else { throw MuseError("unknown schedule") }
        s.schedule = sched
        guard let ramp = Guidance.Ramp(rawValue: try c.string("guidance_schedule")) else { throw MuseError("unknown guidance_schedule") }
        s.guidance = Guidance(scale: try c.float("guidance"), ramp: ramp)
        s.choiceTemperature = try c.float("choice_temperature")
        s.temperature = try c.float("temperature")
        s.topK = try c.int("top_k")
        return s
    }

    func run(_ inputs: StageInputs, _ context: StageContext) throws -> [String: Value] {
        let model = try inputs.tokenModel("model")
        let item = try MaskGITStage.item(inputs, model: model.info, seed: context.seed)
        let ids = try sampler.sample(model, [item]) { step, steps in context.report(step, of: steps) }[0]
        return ["tokens": .tokenGrid(TokenGrid(ids: ids, height: model.info.gridHeight, width: model.info.gridWidth, codebook: model.info.codebook))]
    }

    /// The sampling item of a stage's inputs (prompt, negative prompt, editing tokens and mask).
    static func item(_ inputs: StageInputs, model info: TokenModelInfo, seed: UInt64) throws -> SamplingItem {
        var item = SamplingItem(text: try inputs.textEmbedding("text"), seed: seed)
        if inputs.has("negative") { item.negative = try inputs.textEmbedding("negative") }
        switch (inputs.has("tokens"), inputs.has("token_mask")) {
        case (false, false): break
        case (true, true):
            let grid = try inputs.tokenGrid("tokens")
            guard grid.codebook == info.codebook else {
                throw MuseError("the starting tokens are of codebook '\(grid.codebook)', the model predicts '\(info.codebook)'")
            }
            guard grid.height == info.gridHeight, grid.width == info.gridWidth else {
                throw MuseError("the starting tokens are \(grid.height)x\(grid.width), the model predicts \(info.gridHeight)x\(info.gridWidth)")
            }
            item.initial = grid.ids
            item.regenerate = try regenerationMask(try inputs.mask("token_mask"), height: info.gridHeight, width: info.gridWidth)
        case (true, false): throw MuseError("input 'tokens' needs 'token_mask' (which tokens to regenerate)")
        case (false, true): throw MuseError("input 'token_mask' needs 'tokens' (the starting tokens)")
        }
        return item
    }

    /// A grid-sized regeneration mask from a mask of the grid's size or a multiple of it:
    /// a token is regenerated when any value in its cell is >= 0.5.
    static func regenerationMask(_ m: Mask, height: Int, width: Int) throws -> [Bool] {
        guard m.width % width == 0, m.height % height == 0, m.width / width == m.height / height, m.width >= width else {
            throw MuseError("the token mask is \(m.width)x\(m.height); it must be \(width)x\(height) or a multiple of it with the same factor on both sides")
        }
        let f = m.width / width
        var out = [Bool](repeating: false, count: height * width)
        for y in 0..<m.height { for x in 0..<m.width where m.values[y * m.width + x] >= 0.5 { out[(y / f) * width + x / f] = true } }
        return out
    }
}

/// The stage kinds the plugin registers.
public enum MaskGITSamplerStages {
    public static let all: [StageDescriptor] = [MaskGITStage.descriptor]
}
