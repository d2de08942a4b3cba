import Foundation
import MuseCore

/// A trainable tensor and its gradient (same shape). Layers accumulate into
/// `grad` in `backward`; optimizers read `grad` and update `value`.
public final class Parameter {
    /// Current values.
    public var value: Tensor
    /// Accumulated gradient of the loss with respect to `value`.
    public var grad: Tensor
    /// Whether weight decay applies (true for matrices/kernels, false for biases, norms).
    public var decays: Bool

    public init(_ value: Tensor, decays: Bool? = nil) {
        self.value = value
        self.grad = Tensor(zeros: value.shape)
        self.decays = decays ?? (value.rank >= 2)
    }

    public var shape: [Int] { value.shape }
}

/// A layer or model that owns parameters under stable hierarchical names
/// (`blocks.3.attn.q.weight`). Composite modules prefix their children's names
/// with `nest`.
public protocol Module: AnyObject {
    /// Every parameter of this module (children included), named relative to it,
    /// in a fixed order.
    var namedParameters: [(name: String, param: Parameter)] { get }
    /// Non-trained state saved with the weights (e.g. EMA codebook statistics),
    /// named like parameters. Optimizers never touch these. Default: none.
    var namedBuffers: [(name: String, param: Parameter)] { get }
}

extension Module {
    public var namedBuffers: [(name: String, param: Parameter)] { [] }
}

/// The child's buffers with `prefix.` prepended to their names.
public func nestBuffers(_ prefix: String, _ child: Module) -> [(name: String, param: Parameter)] {
    child.namedBuffers.map { (prefix + "." + $0.name, $0.param) }
}

/// The child's parameters with `prefix.` prepended to their names.
public func nest(_ prefix: String, _ child: Module) -> [(name: String, param: Parameter)] {
    child.namedParameters.map { (prefix + "." + $0.name, $0.param) }
}

/// A list of same-kind modules named `prefix.0`, `prefix.1`, ...
public func nest(_ prefix: String, _ children: [Module]) -> [(name: String, param: Parameter)] {
    children.enumerated().flatMap { nest("\(prefix).\($0.offset)", $0.element) }
}

extension Module {
    /// Parameters in `namedParameters` order.
    public var parameters: [Parameter] { namedParameters.map { $0.param } }

    /// Total number of scalar parameters.
    public var parameterCount: Int { namedParameters.reduce(0) { $0 + $1.param.value.count } }

    /// Sets every parameter gradient to zero.
    public func zeroGrad() { for (_, p) in namedParameters { p.grad.zero() } }

    /// Parameters and buffers together, in a fixed order (what is saved and loaded).
    public var namedState: [(name: String, param: Parameter)] { namedParameters + namedBuffers }

    /// The parameters' and buffers' values by name.
    public func stateDict() -> [String: Tensor] {
        var d: [String: Tensor] = [:]
        for (n, p) in namedState { d[n] = p.value }
        return d
    }

    /// Loads every parameter by name from `source` (a safetensors file, or a
    /// sharded checkpoint). `prefix` is prepended to each name (e.g. "encoder.").
    /// Throws naming the first missing or wrong-shaped tensor.
    public func load(from source: TensorSource, prefix: String = "") throws {
        for (n, p) in namedState {
            let name = prefix + n
            guard let shape = source.shape(of: name) else {
                throw MuseError("\(source.sourceName): missing tensor '\(name)' (expected shape \(p.shape))")
            }
            guard shape == p.shape else {
                throw MuseError("\(source.sourceName): tensor '\(name)' has shape \(shape), expected \(p.shape)")
            }
            p.value = Tensor(shape: shape, data: try source.floats(name))
        }
    }

    /// Loads every parameter from the safetensors file at `url` (see `load(from:prefix:)`).
    public func load(contentsOf url: URL, prefix: String = "") throws {
        try load(from: try CheckpointReader(url), prefix: prefix)
    }

    /// Writes the parameters and buffers with `metadata` (plus `muse.dtype`) to one
    /// safetensors file (atomic), as F32 or F16 (half the size: shipped weights).
    /// `what` names the model in the error for another dtype.
    public func saveWeights(to url: URL, dtype: SafeTensorDType, metadata: [String: String], what: String) throws {
        guard dtype == .f32 || dtype == .f16 else { throw MuseError("\(what) weights can be written as F32 or F16, not \(dtype.rawValue)") }
        var w = SafeTensorsWriter()
        for (name, p) in namedState { try w.add(name, p.value.data, shape: p.shape, as: dtype) }
        w.metadata = metadata
        w.metadata["muse.dtype"] = dtype.rawValue
        try w.write(to: url)
    }

    /// Loads every parameter and buffer from `reader` and refuses a tensor that none
    /// asks for (training-state tensors aside): weights of another architecture than
    /// the metadata describes must not load half-way.
    public func loadStrict(from reader: CheckpointReader, what: String) throws {
        try load(from: reader)
        let known = Set(namedState.map { $0.name })
        if let extra = reader.names.sorted().first(where: { !known.contains($0) && !TrainingCheckpoint.reservedPrefixes.contains(where: $0.hasPrefix) }) {
            throw MuseError("\(reader.url.path): tensor '\(extra)' belongs to no parameter of the \(what) its metadata describes")
        }
    }

    /// Writes the parameters by name to a safetensors file (atomic; sharded past
    /// `Checkpoint.maxShardBytes`).
    public func save(to url: URL, metadata: [String: String] = [:]) throws {
        try Checkpoint.write(stateDict(), ints: [:], metadata: metadata, to: url)
    }
}

/// Named float tensors that parameters load from (a safetensors file or a sharded checkpoint).
public protocol TensorSource {
    /// File name for messages.
    var sourceName: String { get }
    /// Shape of the tensor, or nil when it is absent.
    func shape(of name: String) -> [Int]?
    /// Values as Float32.
    func floats(_ name: String) throws -> [Float]
}

extension SafeTensorsFile: TensorSource {
    public var sourceName: String { url.path }
    public func shape(of name: String) -> [Int]? { entries[name]?.shape }
}
