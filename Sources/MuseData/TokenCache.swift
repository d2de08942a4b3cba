import Foundation
import MuseCore

/// Token grids of every item of a data set at one size, computed once per tokenizer
/// and stored in `DIR/tokens-<weights>-<manifest>-<items>-<size>.safetensors`, where
/// `<weights>` and `<manifest>` are the first 16 hex digits of the SHA-256 of the
/// tokenizer's weights file and of the data set's manifest, and `<items>` the FNV-1a
/// of the item list (manifest positions), so each split has its own file. The file
/// holds `ids` (I64, [items, height, width]) and metadata (codebook, full hashes, size).
/// A file that does not match (shape, id range) is rebuilt.
public final class TokenCache {
    public let url: URL
    public let height: Int, width: Int, codebook: String
    private let ids: [Int32]

    /// Opens the cache for (`dataset`, `size`, `tokenizer`), tokenising the whole data set
    /// (in chunks of `chunk` images) if it is not there yet or is unusable.
    public init(directory: URL, dataset: DataSet, size: Int, tokenizer: ImageTokenizing, chunk: Int = 64,
                progress: ((Int, Int) -> Void)? = nil) throws {
        let weightsHash = SHA256.hex(try SHA256.hashFile(tokenizer.weightsFile.path))
        let itemsHash = FNV1a.hex(dataset.items.map { String($0.index) }.joined(separator: ",").utf8)
        url = directory.appendingPathComponent("tokens-\(weightsHash.prefix(16))-\(dataset.manifestHash.prefix(16))-\(itemsHash)-\(size).safetensors")
        if FileManager.default.fileExists(atPath: url.path) {
            do {
                let f = try SafeTensorsFile(url)
                let e = try f.entry("ids")
                guard e.shape.count == 3, e.shape[0] == dataset.items.count, e.shape[1] > 0, e.shape[2] > 0 else {
                    throw MuseError("\(url.path): token cache shape \(e.shape) does not match \(dataset.items.count) items")
                }
                let stored = try f.ints("ids")
                guard stored.allSatisfy({ $0 >= 0 && $0 <= Int64(Int32.max) }) else {
                    throw MuseError("\(url.path): token cache holds ids outside 0...\(Int32.max)")
                }
                ids = stored.map { Int32($0) }; height = e.shape[1]; width = e.shape[2]
                codebook = f.metadata["codebook"] ?? ""
                return
            } catch {
                FileHandle.standardError.write(Data("data loader: warning: \(error); rebuilding the token cache\n".utf8))
            }
        }
        var all: [Int32] = []
        var h = 0, w = 0, book = ""
        var start = 0
        while start < dataset.items.count {
            let end = min(dataset.items.count, start + chunk)
            let images = try dataset.items[start..<end].map { try dataset.image($0, size: size) }
            let grids = try tokenizer.encode(images)
            guard grids.count == images.count else { throw MuseError("tokenizer returned \(grids.count) grids for \(images.count) images") }
            for g in grids {
                if h == 0 { h = g.height; w = g.width; book = g.codebook }
                guard g.height == h, g.width == w else { throw MuseError("tokenizer returned grids of different shapes") }
                all.append(contentsOf: g.ids)
            }
            start = end
            progress?(end, dataset.items.count)
        }
        var writer = SafeTensorsWriter()
        try writer.add("ids", ints: all.map { Int64($0) }, shape: [dataset.items.count, h, w])
        writer.metadata = ["codebook": book, "tokenizer_sha256": weightsHash, "manifest_sha256": dataset.manifestHash,
                           "items_fnv1a": itemsHash, "size": "\(size)"]
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try writer.write(to: url)
        ids = all; height = h; width = w; codebook = book
    }

    /// The grid of item `item` (index into `DataSet.items`).
    public func tokens(item: Int) throws -> TokenGrid {
        let n = height * width
        guard item >= 0, (item + 1) * n <= ids.count else { throw MuseError("\(url.path): no tokens for item \(item)") }
        return TokenGrid(ids: Array(ids[(item * n)..<((item + 1) * n)]), height: height, width: width, codebook: codebook)
    }
}
