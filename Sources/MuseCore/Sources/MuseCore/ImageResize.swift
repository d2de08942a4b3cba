import Foundation

/// Resampling filters for `Image.resized`.
public enum ResizeFilter: String, CaseIterable, Sendable {
    /// Area averaging: each output pixel is the exact area-weighted mean of the
    /// input pixels it covers (the right filter for downscaling).
    case box
    /// Bilinear interpolation between pixel centres (half-pixel convention, as
    /// torch `interpolate(mode="bilinear", align_corners=False, antialias=False)`),
    /// for upscaling; it does not antialias, so shrink with `box`.
    case bilinear
    /// Nearest neighbour (pixel-centre sampling).
    case nearest
}

/// Resampling of one float plane (height x width, `channels` interleaved).
enum Resampler {
    /// Area weights along one axis: for each output index, the (input index, weight) pairs.
    static func areaWeights(from n: Int, to m: Int) -> [[(Int, Float)]] {
        let scale = Double(n) / Double(m)
        return (0..<m).map { o in
            let a = Double(o) * scale, b = Double(o + 1) * scale
            var w: [(Int, Float)] = []
            var i = Int(a.rounded(.down))
            while Double(i) < b && i < n {
                let lo = max(a, Double(i)), hi = min(b, Double(i + 1))
                if hi > lo { w.append((i, Float((hi - lo) / scale))) }
                i += 1
            }
            return w
        }
    }

    static func bilinearWeights(from n: Int, to m: Int) -> [[(Int, Float)]] {
        let scale = Double(n) / Double(m)
        return (0..<m).map { o in
            let x = max(0, (Double(o) + 0.5) * scale - 0.5)
            let i0 = min(Int(x.rounded(.down)), n - 1), i1 = min(i0 + 1, n - 1)
            let f = Float(x - Double(i0))
            return i0 == i1 ? [(i0, Float(1))] : [(i0, 1 - f), (i1, f)]
        }
    }

    static func nearestWeights(from n: Int, to m: Int) -> [[(Int, Float)]] {
        let scale = Double(n) / Double(m)
        return (0..<m).map { o in [(min(n - 1, Int(((Double(o) + 0.5) * scale).rounded(.down))), Float(1))] }
    }

    static func weights(_ filter: ResizeFilter, from n: Int, to m: Int) -> [[(Int, Float)]] {
        switch filter {
        case .box: return areaWeights(from: n, to: m)
        case .bilinear: return bilinearWeights(from: n, to: m)
        case .nearest: return nearestWeights(from: n, to: m)
        }
    }

    /// Separable resampling: rows first, then columns.
    static func resample(_ src: [Float], width: Int, height: Int, channels: Int,
                         toWidth: Int, toHeight: Int, filter: ResizeFilter) -> [Float] {
        let wx = weights(filter, from: width, to: toWidth)
        let wy = weights(filter, from: height, to: toHeight)
        var tmp = [Float](repeating: 0, count: height * toWidth * channels)
        for y in 0..<height {
            for ox in 0..<toWidth {
                for (ix, w) in wx[ox] {
                    let s = (y * width + ix) * channels, d = (y * toWidth + ox) * channels
                    for c in 0..<channels { tmp[d + c] += w * src[s + c] }
                }
            }
        }
        var out = [Float](repeating: 0, count: toHeight * toWidth * channels)
        for oy in 0..<toHeight {
            for (iy, w) in wy[oy] {
                let s = iy * toWidth * channels, d = oy * toWidth * channels
                for k in 0..<(toWidth * channels) { out[d + k] += w * tmp[s + k] }
            }
        }
        return out
    }
}

extension Image {
    /// This image resampled to `width` x `height` with `filter`.
    public func resized(width: Int, height: Int, filter: ResizeFilter) -> Image {
        precondition(width > 0 && height > 0, "resize target must be positive")
        if width == self.width && height == self.height { return self }
        let p = Resampler.resample(pixels, width: self.width, height: self.height, channels: channels,
                                   toWidth: width, toHeight: height, filter: filter)
        return Image(width: width, height: height, channels: channels, pixels: p)
    }

    /// The rectangle `x, y, width, height` of this image (must lie inside it).
    public func cropped(x: Int, y: Int, width: Int, height: Int) -> Image {
        precondition(x >= 0 && y >= 0 && width > 0 && height > 0 && x + width <= self.width && y + height <= self.height,
                     "crop rectangle lies outside the image")
        var p = [Float](); p.reserveCapacity(width * height * channels)
        for row in y..<(y + height) {
            let s = index(x, row)
            p.append(contentsOf: pixels[s..<(s + width * channels)])
        }
        return Image(width: width, height: height, channels: channels, pixels: p)
    }

    /// Copies `other` (same channel count) into this image with its top-left at (x, y), clipping at the edges.
    public mutating func paste(_ other: Image, x: Int, y: Int) {
        let src = other.channels == channels ? other : (channels == 3 ? other.rgb() : other.withAlpha())
        for sy in 0..<src.height {
            let ty = y + sy
            guard ty >= 0 && ty < height else { continue }
            for sx in 0..<src.width {
                let tx = x + sx
                guard tx >= 0 && tx < width else { continue }
                let s = src.index(sx, sy), d = index(tx, ty)
                for c in 0..<channels { pixels[d + c] = src.pixels[s + c] }
            }
        }
    }

    /// The image with an opaque alpha channel added (RGBA input is returned as is).
    public func withAlpha() -> Image {
        if channels == 4 { return self }
        var p = [Float](repeating: 1, count: width * height * 4)
        for i in 0..<(width * height) { for c in 0..<3 { p[i * 4 + c] = pixels[i * 3 + c] } }
        return Image(width: width, height: height, channels: 4, pixels: p)
    }
}

extension Mask {
    /// This mask resampled with `filter`.
    public func resized(width: Int, height: Int, filter: ResizeFilter) -> Mask {
        if width == self.width && height == self.height { return self }
        let v = Resampler.resample(values, width: self.width, height: self.height, channels: 1,
                                   toWidth: width, toHeight: height, filter: filter)
        return Mask(width: width, height: height, values: v)
    }
}
