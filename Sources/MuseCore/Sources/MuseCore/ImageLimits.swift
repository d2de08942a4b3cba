/// The largest images and masks that image stages create or read, set from the
/// memory they need: pixels are Float32, so an image costs 12 (RGB) or 16
/// (RGBA) bytes per pixel, and a stage holds its input and output at once.
///
/// - `maxPixels` = 8192 x 8192 = 67,108,864 pixels: 1 GiB as RGBA, 768 MiB as
///   RGB, 256 MiB as a mask. Resizing, extending or masking beyond it is refused
///   before anything is allocated (a 16384 x 16384 canvas would be 4 GiB and
///   take minutes on two cores).
/// - `maxSide` = 16384 pixels per side (so a long thin strip stays possible).
///
/// PNG decoding uses the same pixel limit (`PNGCodec.maxPixels`).
public enum ImageLimits {
    public static let maxPixels = 8192 * 8192
    public static let maxSide = 16384

    /// Throws when a `width` x `height` image (for `what`, e.g. "image.extend
    /// output") is empty or over the limits. Never overflows.
    public static func check(width: Int, height: Int, what: String) throws {
        guard width > 0, height > 0 else {
            throw MuseError("\(what) would be \(width)x\(height) pixels; both sides must be at least 1")
        }
        guard width <= maxSide, height <= maxSide else {
            throw MuseError("\(what) would be \(width)x\(height) pixels; the limit is \(maxSide) pixels per side")
        }
        guard width * height <= maxPixels else {
            let mib = width * height * 16 / (1 << 20)
            throw MuseError("\(what) would be \(width)x\(height) = \(width * height) pixels (\(mib) MiB as RGBA floats); the limit is \(maxPixels) pixels (8192 x 8192)")
        }
    }
}
