import Foundation
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

// `test.slow`: `steps` steps of `step_ms` milliseconds each, reporting progress
// and checking for cancellation after every step, then a gray image whose level
// is the stage seed's first draw: lets muse-serve's tests hold the queue, watch
// progress and cancel a running job.
final class SlowStage: Stage {
    let steps: Int, stepMilliseconds: Int
    init(_ c: StageConfig) throws { steps = try c.int("steps"); stepMilliseconds = try c.int("step_ms") }
    func run(_ inputs: StageInputs, _ context: StageContext) throws -> [String: Value] {
        for step in 1...max(1, steps) {
            usleep(useconds_t(stepMilliseconds * 1000))
            context.report(step, of: steps)
            try context.checkCancelled()
        }
        var rng = SeededRNG(seed: context.seed)
        let level = Float(rng.uniformDouble())
        return ["image": .image(Image(width: 8, height: 8, fill: [level, level, level]))]
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
        StageDescriptor(StageSpec(kind: "test.slow", summary: "steps of a set length with progress and cancellation, then a gray image",
                                  config: [ConfigKey("steps", .int, default: .int(20), doc: "steps"),
                                           ConfigKey("step_ms", .int, default: .int(50), doc: "milliseconds per step")],
                                  outputs: [PortSpec("image", .image, doc: "an 8x8 gray image")])) { try SlowStage($0) },
    ]))
}
