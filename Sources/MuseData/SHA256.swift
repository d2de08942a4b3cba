import Crypto
import Foundation
import MuseCore

/// SHA-256 for the emoji split rule, data set identities and cache keys: a thin
/// wrapper over swift-crypto's `SHA256` (BoringSSL on Linux, with the CPU's
/// SHA extensions where present) that speaks in byte arrays and hex strings.
/// Checked against the FIPS 180-4 / NIST vectors in MuseDataTests.
public struct SHA256: Sendable {
    private var hasher = Crypto.SHA256()

    public init() {}

    /// Feeds more bytes.
    public mutating func update<D: DataProtocol>(_ bytes: D) { hasher.update(data: bytes) }

    /// The 32-byte digest.
    public func finalize() -> [UInt8] { Array(hasher.finalize()) }

    /// Digest of `bytes`.
    public static func hash<D: DataProtocol>(_ bytes: D) -> [UInt8] { Array(Crypto.SHA256.hash(data: bytes)) }
    /// Digest of a string's UTF-8 bytes.
    public static func hash(_ text: String) -> [UInt8] { hash(Array(text.utf8)) }
    /// Lower-case hex of a digest.
    public static func hex(_ digest: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8](repeating: 0, count: digest.count * 2)
        for (i, b) in digest.enumerated() { out[2 * i] = digits[Int(b >> 4)]; out[2 * i + 1] = digits[Int(b & 15)] }
        return String(decoding: out, as: UTF8.self)
    }

    /// Digest of a file's contents (memory-mapped, hashed in one pass).
    public static func hashFile(_ path: String) throws -> [UInt8] {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped) } catch {
            throw MuseError("\(path): cannot read file to hash (\(error.localizedDescription))")
        }
        return hash(data)
    }
}
