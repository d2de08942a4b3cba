import Foundation
import MuseCore

/// Writes a pipeline output to a file, in the format its type and the
/// file's extension call for.
public enum ValueWriter {
    /// The extension `write` uses for a value type when the user gives none.
    public static func defaultExtension(_ type: ValueType) -> String {
        switch type {
        case .image, .mask: return "png"
        case .textEmbedding, .tokenGrid: return "safetensors"
        case .text, .scalar: return "txt"
        case .tokenModel: return "txt"
        }
    }

    /// - Parameter texts: text chunks (keyword, text) to embed in a PNG output
    ///   (run provenance); ignored for other formats.
    public static func write(_ value: Value, to url: URL, texts: [(keyword: String, text: String)] = []) throws {
        let ext = url.pathExtension.lowercased()
        func wrongExtension(_ wanted: String) -> MuseError {
            MuseError("\(url.path): a \(value.type.rawValue) output is written as .\(wanted), not .\(ext)")
        }
        switch value {
        case .image(let img):
            guard ext == "png" else { throw wrongExtension("png") }
            try AtomicFile.write(try PNGTextChunks.insert(texts, into: try PNGCodec.encode(img)), to: url, what: "PNG")
        case .mask(let m):
            guard ext == "png" else { throw wrongExtension("png") }
            try PNGCodec.write(Image(mask: m), to: url)
        case .textEmbedding(let e):
            guard ext == "safetensors" else { throw wrongExtension("safetensors") }
            try e.safetensorsWriter().write(to: url)
        case .tokenGrid(let g):
            guard ext == "safetensors" else { throw wrongExtension("safetensors") }
            var w = SafeTensorsWriter()
            w.metadata["codebook"] = g.codebook
            try w.add("tokens", ints: g.ids.map(Int64.init), shape: [g.height, g.width])
            try w.write(to: url)
        case .text(let s):
            try write(text: s + "\n", to: url)
        case .scalar(let d):
            try write(text: "\(d)\n", to: url)
        case .tokenModel:
            throw MuseError("\(url.path): a token_model output is a loaded model, not data; it cannot be written to a file (connect it to a sampler)")
        }
    }

    private static func write(text: String, to url: URL) throws {
        try AtomicFile.write(text: text, to: url)
    }
}
