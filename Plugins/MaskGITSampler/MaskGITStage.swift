import Foundation
import MuseCore

/// `sampler.maskgit`: drives any `token_model` with `MaskGITSampler` (the
/// reference sampler; docs/writing-a-sampler.md walks through it).
final class MaskGITStage: BatchStage {
    static let spec = StageSpec(
        kind: "sampler.maskgit",
        summary: "Iterative parallel decoding (MaskGIT, Muse section 2.8): each step predicts every masked token and keeps the most confident, following a mask schedule, with classifier-free guidance. Drives any token_model. With starting tokens and a token mask it regenerates only the masked tokens (inpainting, outpainting).",
        config: MaskGITSampler.configKeys,
        inputs: SamplerInputs.ports,
        outputs: [PortSpec("tokens", .tokenGrid, doc: "the generated token grid, with the model's codebook")])

    static let descriptor = StageDescriptor(spec) { try MaskGITStage($0) }

    let sampler: MaskGITSampler

    init(_ c: StageConfig) throws {
        sampler = try MaskGITStage.sampler(c)
    }

    /// The sampler's settings from a stage config.
    static func sampler(_ c: StageConfig) throws -> MaskGITSampler {
        var s = MaskGITSampler()
        s.settings = try SamplerSettings(c)
        s.choiceTemperature = try c.float("choice_temperature")
        return s
    }

    /// Every item of a batch run through the transformer together.
    func runBatch(_ inputs: [StageInputs], _ contexts: [StageContext]) throws -> [[String: Value]] {
        try SamplerInputs.runBatch(inputs, contexts) { model, items, progress in try sampler.sample(model, items, progress: progress) }
    }

    func run(_ inputs: StageInputs, _ context: StageContext) throws -> [String: Value] {
        try SamplerInputs.run(inputs, context) { model, items, progress in try sampler.sample(model, items, progress: progress) }
    }
}

/// The stage kinds the plugin registers.
public enum MaskGITSamplerStages {
    public static let all: [StageDescriptor] = [MaskGITStage.descriptor]
}
