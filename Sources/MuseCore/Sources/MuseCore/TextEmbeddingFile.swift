import Foundation

/// The one safetensors layout of a `TextEmbedding` (what `muse-run --out`
/// writes and what embedding caches store):
///
///     input_ids          I64 [T]      token ids, special tokens included
///     last_hidden_state  F32 [T, D]   per-token hidden states
///     attention_mask     I64 [T]      1 = real token, 0 = padding
///     pooled             F32 [D]      sentence vector (absent when the encoder has none)
extension TextEmbedding {
    /// A writer holding this embedding (add metadata, then `write(to:)`).
    public func safetensorsWriter() throws -> SafeTensorsWriter {
        var w = SafeTensorsWriter()
        try w.add("input_ids", ints: tokenIDs.map(Int64.init), shape: [count])
        try w.add("last_hidden_state", hidden, shape: [count, dim])
        try w.add("attention_mask", ints: mask.map { Int64($0) }, shape: [count])
        if !pooled.isEmpty { try w.add("pooled", pooled, shape: [pooled.count]) }
        return w
    }

    /// Reads the layout above, checking every shape and value range.
    public init(safetensors f: SafeTensorsFile) throws {
        let ids = try f.ints("input_ids")
        let hs = try f.entry("last_hidden_state").shape
        guard hs.count == 2, hs[0] == ids.count, hs[1] > 0 else {
            throw MuseError("\(f.url.path): last_hidden_state has shape \(hs), expected [\(ids.count), dim]")
        }
        guard ids.allSatisfy({ $0 >= 0 && $0 <= Int64(Int32.max) }) else {
            throw MuseError("\(f.url.path): input_ids holds values outside 0...\(Int32.max)")
        }
        let mask = try f.ints("attention_mask")
        guard mask.count == ids.count, mask.allSatisfy({ $0 == 0 || $0 == 1 }) else {
            throw MuseError("\(f.url.path): attention_mask must hold \(ids.count) values of 0 or 1")
        }
        var pooled: [Float] = []
        if f.entries["pooled"] != nil { pooled = try f.floats("pooled", shape: [hs[1]]) }
        self.init(tokenIDs: ids.map { Int32($0) }, hidden: try f.floats("last_hidden_state"), dim: hs[1],
                  mask: mask.map { Float($0) }, pooled: pooled)
    }
}
