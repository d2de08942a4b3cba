import Foundation
import MuseCore

/// `sampler.halton`: `HaltonSampler` as a stage (the same ports as sampler.maskgit).
final class HaltonStage: BatchStage {
    static let descriptor = StageDescriptor(StageSpec(
        kind: "sampler.halton",
        summary: "Iterative decoding in a fixed spatial order: each step reveals the next masked positions of a 2D Halton sequence over the grid (as many as the mask schedule says), drawing each token from the guided distribution; no confidence ranking. Drives any token_model; with starting tokens and a token mask it regenerates only the masked tokens.",
        config: SamplerSettings.configKeys,
        inputs: SamplerInputs.ports,
        outputs: [PortSpec("tokens", .tokenGrid, doc: "the generated token grid, with the model's codebook")]
    )) { try HaltonStage($0) }

    var sampler = HaltonSampler()

    init(_ c: StageConfig) throws { sampler.settings = try SamplerSettings(c) }

    /// Every item of a batch run through the transformer together.
    func runBatch(_ inputs: [StageInputs], _ contexts: [StageContext]) throws -> [[String: Value]] {
        try SamplerInputs.runBatch(inputs, contexts) { model, items, progress in try sampler.sample(model, items, progress: progress) }
    }

    func run(_ inputs: StageInputs, _ context: StageContext) throws -> [String: Value] {
        try SamplerInputs.run(inputs, context) { model, items, progress in try sampler.sample(model, items, progress: progress) }
    }
}

/// The stage kinds the plugin registers.
public enum HaltonSamplerStages {
    public static let all: [StageDescriptor] = [HaltonStage.descriptor]
}
