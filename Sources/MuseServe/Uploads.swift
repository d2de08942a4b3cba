import Crypto
import Foundation
import MuseCore

/// Images uploaded through the form (or painted masks): base64 PNG data, checked
/// against the byte and pixel limits and decoded before anything is kept, then,
/// once the run is accepted, stored content-addressed in `uploads/` of the output
/// folder, where the run (and a later rerun of it) reads them like any input file.
public enum Uploads {
    /// An upload that passed every check, not yet written.
    public struct Checked {
        public let data: Data
        /// Where it will be kept (named by its SHA-256, so the same picture is kept once).
        public let url: URL
        /// Writes it (nothing to do when the same picture is already there).
        public func store(settings: ServeSettings) throws {
            guard !FileManager.default.fileExists(atPath: url.path) else { return }
            try FileManager.default.createDirectory(at: settings.uploadsFolder, withIntermediateDirectories: true)
            try AtomicFile.write(data, to: url, what: "upload")
        }
    }

    /// Checks one upload for the input `name`: within the byte and pixel limits, a PNG
    /// that decodes. Nothing is written until the run is accepted (`Checked.store`).
    /// - Parameter text: base64 PNG bytes, optionally as a `data:image/png;base64,` URL.
    public static func check(_ text: String, input name: String, settings: ServeSettings) throws -> Checked {
        var b64 = Substring(text)
        if b64.hasPrefix("data:") {
            guard let comma = b64.prefix(200).firstIndex(of: ",") else { throw ServeError.badRequest("input '\(name)': a data URL without data") }
            let header = b64[..<comma]
            guard header.hasSuffix(";base64") else { throw ServeError.badRequest("input '\(name)': the data URL must be base64") }
            guard header.hasPrefix("data:image/png") else {
                throw ServeError.badRequest("input '\(name)': the upload must be a PNG image (got \(header.dropFirst(5).prefix(40)))")
            }
            b64 = b64[b64.index(after: comma)...]
        }
        // 3 bytes per 4 characters: refuse an oversized upload before decoding it.
        if b64.utf8.count / 4 * 3 > settings.maxUploadBytes + 3 {
            throw ServeError.tooLarge("input '\(name)': the upload is over \(settings.maxUploadBytes) bytes")
        }
        guard let data = Data(base64Encoded: String(b64)) else {
            throw ServeError.badRequest("input '\(name)': the upload is not base64 data")
        }
        guard data.count <= settings.maxUploadBytes else {
            throw ServeError.tooLarge("input '\(name)': the upload is \(data.count) bytes; the limit is \(settings.maxUploadBytes)")
        }
        let (width, height) = try pngSize(data, input: name)
        guard width * height <= settings.maxUploadPixels else {
            throw ServeError.tooLarge("input '\(name)': the image is \(width)x\(height) = \(width * height) pixels; the limit is \(settings.maxUploadPixels)")
        }
        do { _ = try PNGCodec.decode(data, name: "the upload") } catch {
            throw ServeError.badRequest("input '\(name)': the upload does not decode as a PNG (\(error))")
        }
        let digest = SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
        return Checked(data: data, url: settings.uploadsFolder.appendingPathComponent("upload-\(digest.prefix(24)).png"))
    }

    /// Width and height from the PNG signature and IHDR chunk, read before the
    /// image is decoded (so a small file claiming a huge image costs nothing).
    static func pngSize(_ d: Data, input name: String) throws -> (Int, Int) {
        let b = [UInt8](d.prefix(24))
        let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        guard b.count == 24, Array(b[0..<8]) == signature, Array(b[12..<16]) == Array("IHDR".utf8) else {
            throw ServeError.badRequest("input '\(name)': the upload is not a PNG file")
        }
        func be32(_ i: Int) -> Int { Int(b[i]) << 24 | Int(b[i + 1]) << 16 | Int(b[i + 2]) << 8 | Int(b[i + 3]) }
        let w = be32(16), h = be32(20)
        guard w > 0, h > 0, w <= 1 << 24, h <= 1 << 24 else { throw ServeError.badRequest("input '\(name)': the PNG claims a \(w)x\(h) image") }
        return (w, h)
    }

    /// True when `path` is a file inside the uploads folder (a rerun may only read
    /// images from there).
    static func isUpload(_ path: String, settings: ServeSettings) -> Bool {
        let url = URL(fileURLWithPath: path).standardizedFileURL
        return url.deletingLastPathComponent().path == settings.uploadsFolder.standardizedFileURL.path && SafeName.check(url.lastPathComponent)
    }
}
