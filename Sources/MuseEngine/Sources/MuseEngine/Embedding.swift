import MuseCore

/// Lookup table: `ids -> weight[id]`. Parameter: `weight [count, dim]`.
public final class Embedding: Module {
    public let count: Int
    public let dim: Int
    public let weight: Parameter
    private var ids: [Int] = []

    /// - Parameters: count: table size (vocabulary); dim: vector width; std: init N(0, std²).
    public init(count: Int, dim: Int, std: Float = 0.02, rng: inout SeededRNG) {
        self.count = count
        self.dim = dim
        weight = Parameter(Tensor.randn([count, dim], std: std, rng: &rng), decays: false)
    }

    /// A zero table for weights that `load(from:)` fills (pretrained models):
    /// skips the random initialisation, which costs more than the load itself
    /// for a large vocabulary.
    public init(count: Int, dim: Int) {
        self.count = count
        self.dim = dim
        weight = Parameter(Tensor(zeros: [count, dim]), decays: false)
    }

    public var namedParameters: [(name: String, param: Parameter)] { [("weight", weight)] }

    /// ids: `shape` (flat, row-major, each in 0..<count) -> `[shape..., dim]`.
    /// Throws when an id is out of range.
    public func forward(_ ids: [Int], shape: [Int]) throws -> Tensor {
        guard ids.count == shape.reduce(1, *) else {
            throw MuseError("Embedding.forward: \(ids.count) ids for shape \(shape)")
        }
        if let bad = ids.first(where: { $0 < 0 || $0 >= count }) {
            throw MuseError("Embedding.forward: id \(bad) out of range 0..<\(count)")
        }
        self.ids = ids
        var y = Tensor(zeros: shape + [dim])
        weight.value.data.withUnsafeBufferPointer { w in
            y.data.withUnsafeMutableBufferPointer { yp in
                for (r, id) in ids.enumerated() {
                    (yp.baseAddress! + r * dim).update(from: w.baseAddress! + id * dim, count: dim)
                }
            }
        }
        return y
    }

    /// dy: `[shape..., dim]`; accumulates dW[id] += dy (ids have no gradient).
    public func backward(_ dy: Tensor) {
        require(dy.count == ids.count * dim, "Embedding.backward: gradient shape \(dy.shape) for \(ids.count) ids of dim \(dim)")
        dy.data.withUnsafeBufferPointer { g in
            weight.grad.data.withUnsafeMutableBufferPointer { dw in
                for (r, id) in ids.enumerated() {
                    let src = g.baseAddress! + r * dim, dst = dw.baseAddress! + id * dim
                    for j in 0..<dim { dst[j] += src[j] }
                }
            }
        }
    }
}
