import Foundation
import MuseCore

/// A text encoder as the data loader sees it (the text encoder plugin, or a test double).
public protocol TextEncoding {
    /// The weights file: its SHA-256 is part of the embedding cache's fingerprint.
    var weightsFile: URL { get }
    /// Every setting that changes the embeddings (e.g. `max_tokens=32`): also part
    /// of the fingerprint.
    var settings: String { get }
    /// Unpadded embeddings of `texts`, in order.
    func encode(_ texts: [String]) throws -> [TextEmbedding]
}

extension TextEmbeddingCache {
    /// The cache fingerprint of an encoder: `sha256-<hex of its weights file>/<settings>`.
    public static func fingerprint(of encoder: TextEncoding) throws -> String {
        "sha256-\(SHA256.hex(try SHA256.hashFile(encoder.weightsFile.path)))/\(encoder.settings)"
    }

    /// The one text-embedding cache (MuseCore's), set up for the data loader: files in
    /// `directory`, keyed by `fingerprint(of: encoder)` and the caption, misses encoded
    /// by `encoder` in one batch. `capacity` captions are also kept in memory.
    public convenience init(directory: URL, encoder: TextEncoding, capacity: Int = 4096) throws {
        do { try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true) } catch {
            throw MuseError("\(directory.path): cannot create the text embedding cache folder (\(error.localizedDescription))")
        }
        self.init(capacity: capacity, directory: directory, fingerprint: try TextEmbeddingCache.fingerprint(of: encoder),
                  encode: encoder.encode)
    }
}
