import Foundation

/// What every sampler stage reads from its inputs, in one place so that all
/// samplers (the shipped ones and third-party plugins) accept the same ports
/// the same way: `text` (text_embedding), optional `negative` (text_embedding),
/// optional `tokens` (token_grid) with `token_mask` (mask) for editing.
public enum SamplerInputs {
    /// The input ports of a sampler stage, with their docs.
    public static let ports: [PortSpec] = [
        PortSpec("model", .tokenModel, doc: "the transformer to drive (e.g. transformer.base's output)"),
        PortSpec("text", .textEmbedding, doc: "the prompt's embedding (text.encode)"),
        PortSpec("negative", .textEmbedding, optional: true, doc: "a negative prompt: replaces the empty prompt in guidance's unconditional pass"),
        PortSpec("tokens", .tokenGrid, optional: true, doc: "starting tokens (editing); needs token_mask"),
        PortSpec("token_mask", .mask, optional: true,
                 doc: "what to regenerate (1 = regenerate), of the grid's size or any multiple of it (an image-sized mask: a token is regenerated when any pixel of its cell is >= 0.5)"),
    ]

    /// The sampling item of a stage's inputs (prompt, negative prompt, editing tokens and mask).
    public static func item(_ inputs: StageInputs, model info: TokenModelInfo, seed: UInt64) throws -> SamplingItem {
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
    public static func regenerationMask(_ m: Mask, height: Int, width: Int) throws -> [Bool] {
        guard m.width % width == 0, m.height % height == 0, m.width / width == m.height / height, m.width >= width else {
            throw MuseError("the token mask is \(m.width)x\(m.height); it must be \(width)x\(height) or a multiple of it with the same factor on both sides")
        }
        let f = m.width / width
        var out = [Bool](repeating: false, count: height * width)
        for y in 0..<m.height { for x in 0..<m.width where m.values[y * m.width + x] >= 0.5 { out[(y / f) * width + x / f] = true } }
        return out
    }
}

extension SamplerInputs {
    /// Runs one sampler stage item: reads the inputs, calls `sample` with the model and
    /// the item (progress goes to the stage's reporter; the progress call throws
    /// `CancelledError` once the run is cancelled), returns the `tokens` output.
    public static func run(_ inputs: StageInputs, _ context: StageContext,
                           sample: (any TokenModel, [SamplingItem], (Int, Int) throws -> Void) throws -> [[Int32]]) throws -> [String: Value] {
        try runBatch([inputs], [context], sample: sample)[0]
    }

    /// Runs a batch of sampler stage inputs: items that share one token model are
    /// sampled together by `sample` (one model call per step for all of them);
    /// each item keeps its own seed, so its result equals a run of it alone.
    public static func runBatch(_ inputs: [StageInputs], _ contexts: [StageContext],
                                sample: (any TokenModel, [SamplingItem], (Int, Int) throws -> Void) throws -> [[Int32]]) throws -> [[String: Value]] {
        var results = [[String: Value]?](repeating: nil, count: inputs.count)
        var groups: [(model: any TokenModel, members: [Int])] = []
        for (i, input) in inputs.enumerated() {
            let m = try input.tokenModel("model")
            if let g = groups.firstIndex(where: { $0.model === m }) { groups[g].members.append(i) } else { groups.append((m, [i])) }
        }
        for (model, members) in groups {
            let info = model.info
            let items = try members.map { try item(inputs[$0], model: info, seed: contexts[$0].seed) }
            let grids = try sample(model, items) { step, steps in
                contexts[members[0]].report(step, of: steps)
                try contexts[members[0]].checkCancelled()
            }
            for (k, i) in members.enumerated() {
                results[i] = ["tokens": .tokenGrid(TokenGrid(ids: grids[k], height: info.gridHeight, width: info.gridWidth, codebook: info.codebook))]
            }
        }
        return results.map { $0! }
    }
}
