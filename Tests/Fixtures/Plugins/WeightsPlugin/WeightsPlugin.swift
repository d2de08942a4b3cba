import MuseCore

// A test plugin with stages for the host tests. A stage that needs a weights file: `test.tensor_sum`
// reads one tensor from its safetensors weights and outputs its sum, which
// lets the host tests cover weights resolution and missing/corrupt files.
final class TensorSumStage: Stage {
    let sum: Double
    init(_ c: StageConfig) throws {
        let file = try SafeTensorsFile(try c.requireWeights())
        sum = try file.floats(try c.string("tensor")).reduce(0) { $0 + Double($1) }
    }
    func run(_ inputs: StageInputs, _ context: StageContext) throws -> [String: Value] { ["sum": .scalar(sum)] }
}

// `test.noise`: one uniform draw from the stage's seed, so tests can check
// that the run seed reaches each stage, repeatably and differently per stage.
final class NoiseStage: Stage {
    func run(_ inputs: StageInputs, _ context: StageContext) throws -> [String: Value] {
        var rng = SeededRNG(seed: context.seed)
        return ["value": .scalar(rng.uniformDouble())]
    }
}

@_cdecl("muse_plugin_abi")
public func musePluginABI() -> UnsafePointer<CChar> { muse_abi_string() }

@_cdecl("muse_plugin_entry")
public func musePluginEntry() -> UnsafeMutableRawPointer {
    MusePlugin.export(MusePlugin(name: "TestPluginWeights", version: "0", stages: [
        StageDescriptor(StageSpec(kind: "test.tensor_sum", summary: "sum of one tensor of the weights file",
                                  config: [ConfigKey("tensor", .string, default: .string("w"), doc: "tensor name")],
                                  outputs: [PortSpec("sum", .scalar, doc: "the sum")], weights: .required)) { try TensorSumStage($0) },
        StageDescriptor(StageSpec(kind: "test.noise", summary: "one uniform draw from the stage's seed",
                                  outputs: [PortSpec("value", .scalar, doc: "the draw")])) { _ in NoiseStage() },
    ]))
}
