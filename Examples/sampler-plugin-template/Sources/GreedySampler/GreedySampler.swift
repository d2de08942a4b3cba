import Foundation
import MuseCore

/// `example.greedy`: the smallest useful sampler. Each step takes the arg-max
/// token at every masked position (no sampling) and keeps the most confident of
/// them, as many as the mask schedule says. It uses MuseCore's sampler toolkit
/// (`SamplerSettings`, `SamplerInputs`, `GuidedDecoding`), so it takes the same
/// ports, schedules and guidance as the shipped samplers, and drives any
/// `token_model` through MuseCore's `TokenModel` protocol.
final class GreedySamplerStage: Stage {
    static let descriptor = StageDescriptor(StageSpec(
        kind: "example.greedy",
        summary: "Example sampler plugin (built out of tree): arg-max tokens, most confident first, following the mask schedule.",
        config: SamplerSettings.configKeys,
        inputs: SamplerInputs.ports,
        outputs: [PortSpec("tokens", .tokenGrid, doc: "the generated token grid")]
    )) { try GreedySamplerStage($0) }

    let settings: SamplerSettings
    init(_ c: StageConfig) throws { settings = try SamplerSettings(c) }

    func run(_ inputs: StageInputs, _ context: StageContext) throws -> [String: Value] {
        let model = try inputs.tokenModel("model")
        let info = model.info, T = info.tokens, V = info.vocabularySize
        let item = try SamplerInputs.item(inputs, model: info, seed: context.seed)
        var d = try GuidedDecoding(model: model, items: [item], guidance: settings.guidance)
        let initial = d.masked.filter { $0 }.count
        for step in 1...settings.steps where d.masked.contains(true) {
            let logits = try d.logits(step: step, of: settings.steps)
            var best: [(t: Int, id: Int, score: Float)] = []
            for t in 0..<T where d.masked[t] {
                var id = 0
                for v in 1..<V where logits[t * V + v] > logits[t * V + id] { id = v }
                best.append((t, id, logits[t * V + id]))
            }
            let keep = settings.schedule.maskedAfter(step: step, of: settings.steps, initial: initial, current: best.count)
            for b in best.sorted(by: { $0.score > $1.score || ($0.score == $1.score && $0.t < $1.t) }).prefix(best.count - keep) {
                d.ids[b.t] = Int32(b.id)
                d.masked[b.t] = false
            }
            context.report(step, of: settings.steps)
            try context.checkCancelled()   // muse-serve's cancel button
        }
        return ["tokens": .tokenGrid(TokenGrid(ids: d.grid(0), height: info.gridHeight, width: info.gridWidth, codebook: info.codebook))]
    }
}

@_cdecl("muse_plugin_abi")
public func musePluginABI() -> UnsafePointer<CChar> { muse_abi_string() }

@_cdecl("muse_plugin_entry")
public func musePluginEntry() -> UnsafeMutableRawPointer {
    MusePlugin.export(MusePlugin(name: "MuseGreedySampler", version: "0.1.0", stages: [GreedySamplerStage.descriptor]))
}
