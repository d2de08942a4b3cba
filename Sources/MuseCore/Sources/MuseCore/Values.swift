import Foundation

/// The types of value that flow along a pipeline graph's edges.
public enum ValueType: String, CaseIterable, Sendable {
    case text
    case textEmbedding = "text_embedding"
    case tokenGrid = "token_grid"
    case image
    case mask
    case scalar
    /// A masked token predictor (`TokenModel`) that samplers drive.
    case tokenModel = "token_model"
}

/// An RGB or RGBA image, interleaved (height x width x channels), Float32 in [0, 1].
public struct Image: Equatable, Sendable {
    public var width: Int
    public var height: Int
    /// 3 (RGB) or 4 (RGBA).
    public var channels: Int
    /// height * width * channels values, row-major, channels interleaved.
    public var pixels: [Float]

    public init(width: Int, height: Int, channels: Int = 3, pixels: [Float]) {
        precondition(channels == 3 || channels == 4, "Image has 3 or 4 channels")
        precondition(pixels.count == width * height * channels, "Image pixel count does not match its shape")
        self.width = width; self.height = height; self.channels = channels; self.pixels = pixels
    }

    /// A flat image of one colour (components in [0, 1]).
    public init(width: Int, height: Int, fill: [Float]) {
        precondition(fill.count == 3 || fill.count == 4)
        var p = [Float](repeating: 0, count: width * height * fill.count)
        for i in 0..<(width * height) { for c in 0..<fill.count { p[i * fill.count + c] = fill[c] } }
        self.init(width: width, height: height, channels: fill.count, pixels: p)
    }

    @inline(__always) public func index(_ x: Int, _ y: Int) -> Int { (y * width + x) * channels }

    /// The image as RGB, compositing any alpha over `background`.
    public func rgb(over background: [Float] = [1, 1, 1]) -> Image {
        if channels == 3 { return self }
        var out = [Float](repeating: 0, count: width * height * 3)
        for i in 0..<(width * height) {
            let a = pixels[i * 4 + 3]
            for c in 0..<3 { out[i * 3 + c] = pixels[i * 4 + c] * a + background[c] * (1 - a) }
        }
        return Image(width: width, height: height, channels: 3, pixels: out)
    }
}

extension Image {
    /// A mask shown as a gray RGB picture (white = 1).
    public init(mask m: Mask) {
        self.init(width: m.width, height: m.height, channels: 3, pixels: m.values.flatMap { [$0, $0, $0] })
    }
}

/// A single-channel mask, Float32 in [0, 1]; 1 marks the region to (re)generate.
public struct Mask: Equatable, Sendable {
    public var width: Int
    public var height: Int
    public var values: [Float]
    public init(width: Int, height: Int, values: [Float]) {
        precondition(values.count == width * height, "Mask value count does not match its shape")
        self.width = width; self.height = height; self.values = values
    }
    public init(width: Int, height: Int, fill: Float) {
        self.init(width: width, height: height, values: [Float](repeating: fill, count: width * height))
    }
    /// A mask read off a picture: luminance (Rec. 601), times alpha if any;
    /// white = 1 = region to generate.
    public init(luminanceOf img: Image) {
        var v = [Float](repeating: 0, count: img.width * img.height)
        for i in 0..<v.count {
            let p = i * img.channels
            let lum = 0.299 * img.pixels[p] + 0.587 * img.pixels[p + 1] + 0.114 * img.pixels[p + 2]
            v[i] = img.channels == 4 ? lum * img.pixels[p + 3] : lum
        }
        self.init(width: img.width, height: img.height, values: v)
    }
}

/// A grid of VQ codebook indices (height x width, row-major).
public struct TokenGrid: Equatable, Sendable {
    public var ids: [Int32]
    public var height: Int
    public var width: Int
    /// Names the codebook the ids index, so a decoder can refuse a foreign grid.
    public var codebook: String
    public init(ids: [Int32], height: Int, width: Int, codebook: String) {
        precondition(ids.count == height * width, "TokenGrid id count does not match its shape")
        self.ids = ids; self.height = height; self.width = width; self.codebook = codebook
    }
}

/// Per-token text encoder outputs for one prompt.
public struct TextEmbedding: Equatable, Sendable {
    /// Token ids, including special tokens ([CLS] ... [SEP]).
    public var tokenIDs: [Int32]
    /// tokens x dim hidden states, row-major.
    public var hidden: [Float]
    public var dim: Int
    /// 1 for real tokens, 0 for padding (cross-attention key mask).
    public var mask: [Float]
    /// Sentence vector (mean over tokens, L2-normalised); empty if the encoder has none.
    public var pooled: [Float]
    public var count: Int { tokenIDs.count }
    public init(tokenIDs: [Int32], hidden: [Float], dim: Int, mask: [Float], pooled: [Float]) {
        precondition(hidden.count == tokenIDs.count * dim && mask.count == tokenIDs.count)
        self.tokenIDs = tokenIDs; self.hidden = hidden; self.dim = dim; self.mask = mask; self.pooled = pooled
    }
}

/// A value on a pipeline edge.
public enum Value: Sendable {
    case text(String)
    case textEmbedding(TextEmbedding)
    case tokenGrid(TokenGrid)
    case image(Image)
    case mask(Mask)
    case scalar(Double)
    case tokenModel(any TokenModel)

    public var type: ValueType {
        switch self {
        case .text: return .text
        case .textEmbedding: return .textEmbedding
        case .tokenGrid: return .tokenGrid
        case .image: return .image
        case .mask: return .mask
        case .scalar: return .scalar
        case .tokenModel: return .tokenModel
        }
    }

    /// A short description for logs: `image 64x64x3`, `text "a red..."`.
    public var summary: String {
        switch self {
        case .text(let s): return "text \"\(s.count > 40 ? String(s.prefix(40)) + "..." : s)\""
        case .textEmbedding(let e): return "text_embedding \(e.count)x\(e.dim)"
        case .tokenGrid(let g): return "token_grid \(g.height)x\(g.width) (\(g.codebook))"
        case .image(let i): return "image \(i.width)x\(i.height)x\(i.channels)"
        case .mask(let m): return "mask \(m.width)x\(m.height)"
        case .scalar(let d): return "scalar \(d)"
        case .tokenModel(let m): return "token_model \(m.info.gridHeight)x\(m.info.gridWidth) of \(m.info.vocabularySize) codes (\(m.info.codebook))"
        }
    }
}
