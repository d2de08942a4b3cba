import Foundation
import CPNG

/// PNG read and write through libpng's simplified API.
///
/// Reading accepts every PNG colour type and bit depth (gray, gray+alpha, RGB,
/// RGBA, palette with or without tRNS, 16-bit) and gives an 8-bit-per-channel
/// image: RGBA when the file carries alpha (an alpha channel or tRNS), RGB
/// otherwise. Writing gives 8-bit RGB or RGBA.
public enum PNGCodec {
    /// Largest image accepted on read (pixels), to refuse absurd headers before
    /// allocating: 8192 x 8192 is already 1 GiB as Float32 RGBA (`ImageLimits`).
    public static let maxPixels = ImageLimits.maxPixels

    /// Pixel layouts for `encodeRaw` (8-bit unless named 16).
    public enum RawFormat {
        case gray8, grayAlpha8, rgb8, rgba8
        /// 16-bit linear-light samples (libpng writes gAMA 1.0 for them).
        case gray16, rgb16, rgba16
        /// 8-bit indices into `palette` (RGB triples, at most 256 entries).
        case palette8(palette: [UInt8])
    }

    /// libpng's PNG_FORMAT_FLAG_* bits (the composite macros do not import into Swift).
    private enum F {
        static let alpha: UInt32 = 0x01, color: UInt32 = 0x02, linear: UInt32 = 0x04, colormap: UInt32 = 0x08
    }

    // MARK: read

    public static func read(_ url: URL) throws -> Image {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw MuseError("\(url.path): cannot read PNG file (\(error.localizedDescription))")
        }
        return try decode(data, name: url.path)
    }

    public static func decode(_ data: Data, name: String = "PNG data") throws -> Image {
        let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        guard data.count >= 8, Array(data.prefix(8)) == signature else {
            throw MuseError("\(name): not a PNG file (bad signature)")
        }
        var image = png_image()
        image.version = UInt32(PNG_IMAGE_VERSION)
        let begun = data.withUnsafeBytes { raw in
            png_image_begin_read_from_memory(&image, raw.baseAddress, raw.count)
        }
        guard begun != 0 else { throw MuseError("\(name): corrupt PNG (\(message(&image)))") }
        defer { png_image_free(&image) }
        let width = Int(image.width), height = Int(image.height)
        guard width > 0, height > 0, width * height <= maxPixels else {
            throw MuseError("\(name): PNG dimensions \(width)x\(height) are out of range")
        }
        // 16-bit samples are sRGB unless the file says otherwise (a gAMA or sRGB
        // chunk): without this flag libpng would treat untagged 16-bit data as
        // linear and brighten it on the way to 8 bits.
        image.flags |= UInt32(PNG_IMAGE_FLAG_16BIT_sRGB)
        let hasAlpha = (image.format & F.alpha) != 0
        let channels = hasAlpha ? 4 : 3
        image.format = hasAlpha ? F.color | F.alpha : F.color
        var bytes = [UInt8](repeating: 0, count: width * height * channels)
        let finished = data.withUnsafeBytes { _ in
            bytes.withUnsafeMutableBytes { out in
                png_image_finish_read(&image, nil, out.baseAddress, Int32(width * channels), nil)
            }
        }
        guard finished != 0 else { throw MuseError("\(name): corrupt or truncated PNG (\(message(&image)))") }
        return Image(width: width, height: height, channels: channels, pixels: bytes.map { Float($0) / 255 })
    }

    // MARK: write

    /// Writes an RGB or RGBA image as 8-bit PNG, atomically (temp file + rename),
    /// to a regular file only (`AtomicFile`: a device, FIFO or folder is refused).
    public static func write(_ img: Image, to url: URL) throws {
        try AtomicFile.write(try encode(img), to: url, what: "PNG")
    }

    /// The image as 8-bit RGB or RGBA PNG bytes.
    public static func encode(_ img: Image) throws -> Data {
        let bytes = img.pixels.map { UInt8((max(0, min(1, $0)) * 255).rounded()) }
        return try encodeRaw(bytes, width: img.width, height: img.height, format: img.channels == 4 ? .rgba8 : .rgb8)
    }

    /// Encodes raw samples in any of `RawFormat`. 16-bit formats take
    /// native-endian UInt16 samples passed as bytes (2 per sample).
    public static func encodeRaw(_ samples: [UInt8], width: Int, height: Int, format: RawFormat) throws -> Data {
        var image = png_image()
        image.version = UInt32(PNG_IMAGE_VERSION)
        image.width = UInt32(width)
        image.height = UInt32(height)
        var palette: [UInt8] = []
        let channels: Int, bytesPerSample: Int
        switch format {
        case .gray8: image.format = 0; channels = 1; bytesPerSample = 1
        case .grayAlpha8: image.format = F.alpha; channels = 2; bytesPerSample = 1
        case .rgb8: image.format = F.color; channels = 3; bytesPerSample = 1
        case .rgba8: image.format = F.color | F.alpha; channels = 4; bytesPerSample = 1
        case .gray16: image.format = F.linear; channels = 1; bytesPerSample = 2
        case .rgb16: image.format = F.linear | F.color; channels = 3; bytesPerSample = 2
        case .rgba16: image.format = F.linear | F.color | F.alpha; channels = 4; bytesPerSample = 2
        case .palette8(let p):
            guard p.count % 3 == 0, p.count / 3 >= 1, p.count / 3 <= 256 else {
                throw MuseError("PNG palette must hold 1...256 RGB triples")
            }
            image.format = F.color | F.colormap
            image.colormap_entries = UInt32(p.count / 3)
            palette = p; channels = 1; bytesPerSample = 1
        }
        let stride = width * channels
        guard samples.count == stride * height * bytesPerSample else {
            throw MuseError("PNG encode: \(samples.count) bytes do not fill \(width)x\(height)x\(channels)")
        }
        // First call sizes the buffer, second writes into it.
        var size = 0
        let ok1 = samples.withUnsafeBytes { s in
            palette.withUnsafeBytes { pal in
                png_image_write_to_memory(&image, nil, &size, 0, s.baseAddress, Int32(stride), pal.count > 0 ? pal.baseAddress : nil)
            }
        }
        guard ok1 != 0 || size > 0 else { throw MuseError("PNG encode failed (\(message(&image)))") }
        var out = [UInt8](repeating: 0, count: size)
        let ok2 = samples.withUnsafeBytes { s in
            palette.withUnsafeBytes { pal in
                out.withUnsafeMutableBytes { o in
                    png_image_write_to_memory(&image, o.baseAddress, &size, 0, s.baseAddress, Int32(stride), pal.count > 0 ? pal.baseAddress : nil)
                }
            }
        }
        guard ok2 != 0 else { throw MuseError("PNG encode failed (\(message(&image)))") }
        return Data(out.prefix(size))
    }

    private static func message(_ image: inout png_image) -> String {
        withUnsafeBytes(of: &image.message) { raw in
            let bytes = raw.prefix { $0 != 0 }
            return String(decoding: bytes, as: UTF8.self)
        }
    }
}
