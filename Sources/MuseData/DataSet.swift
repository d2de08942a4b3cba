import Foundation
import MuseCore

/// A data set as `muse-data` writes it (emoji or scenes; docs/data.md):
/// `dataset.json`, `manifest.jsonl` (one JSON object per image with at least
/// `file`, `captions` and `split`), and the images in `128/` and `64/`.
public struct DataSet: Sendable {
    public struct Item: Sendable, Equatable {
        /// Position in the manifest.
        public let index: Int
        public let file: String
        /// Caption variants; the loader draws one per use.
        public let captions: [String]
        public let split: String
    }
    public let root: URL
    /// `emoji` or `scenes` (from dataset.json).
    public let kind: String
    public let items: [Item]
    /// SHA-256 (hex) of manifest.jsonl: identifies this build of the data set in cache keys.
    public let manifestHash: String

    /// Opens the data set at `root`, keeping only `split` (`train`, `eval`) when given.
    public init(root: URL, split: String? = nil) throws {
        self.root = root
        let infoURL = root.appendingPathComponent("dataset.json")
        guard let infoData = FileManager.default.contents(atPath: infoURL.path),
              let info = try? JSONSerialization.jsonObject(with: infoData) as? [String: Any] else {
            throw MuseError("\(infoURL.path): missing or not JSON; is \(root.path) a data set written by muse-data?")
        }
        kind = info["kind"] as? String ?? "unknown"
        let manifest = root.appendingPathComponent("manifest.jsonl")
        guard let data = FileManager.default.contents(atPath: manifest.path) else {
            throw MuseError("\(manifest.path): manifest not found")
        }
        manifestHash = SHA256.hex(SHA256.hash([UInt8](data)))
        var items: [Item] = []
        for (n, line) in data.split(separator: UInt8(ascii: "\n")).enumerated() {
            guard let r = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any],
                  let file = r["file"] as? String, let captions = r["captions"] as? [String], !captions.isEmpty,
                  let sp = r["split"] as? String else {
                throw MuseError("\(manifest.path):\(n + 1): expected a JSON object with file, captions (non-empty) and split")
            }
            if split == nil || split == sp { items.append(Item(index: n, file: file, captions: captions, split: sp)) }
        }
        self.items = items
    }

    /// Path of an item's image at `size` (128 or 64).
    public func imageURL(_ item: Item, size: Int) -> URL {
        root.appendingPathComponent("\(size)").appendingPathComponent(item.file)
    }

    /// An item's image at `size`, RGB in [0, 1].
    public func image(_ item: Item, size: Int) throws -> Image {
        try PNGCodec.read(imageURL(item, size: size)).rgb()
    }
}
