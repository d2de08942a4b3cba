import MuseCore

// A test plugin with a stage that needs a weights file: `test.tensor_sum`
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

@_cdecl("muse_plugin_abi_version")
public func museABIVersion() -> UInt32 { UInt32(MUSE_PLUGIN_ABI_VERSION) }

@_cdecl("muse_plugin_entry")
public func musePluginEntry() -> UnsafeMutableRawPointer {
    MusePlugin.export(MusePlugin(name: "TestPluginWeights", version: "0", stages: [
        StageDescriptor(StageSpec(kind: "test.tensor_sum", summary: "sum of one tensor of the weights file",
                                  config: [ConfigKey("tensor", .string, default: .string("w"), doc: "tensor name")],
                                  outputs: [PortSpec("sum", .scalar, doc: "the sum")], weights: .required)) { try TensorSumStage($0) },
    ]))
}
