import XCTest
import MuseData
import MuseEmoji

final class SHA256Tests: XCTestCase {
    func hex(_ s: String) -> String { SHA256.hex(SHA256.hash(s)) }

    /// FIPS 180-4 / NIST example vectors.
    func testStandardVectors() {
        XCTAssertEqual(hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
                       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        XCTAssertEqual(hex("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu"),
                       "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1")
        XCTAssertEqual(SHA256.hex(SHA256.hash([UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000))),
                       "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    /// Files hash to the digest of their bytes (memory-mapped; swift-crypto, so a
    /// 64 MiB file takes well under a second even in a debug build).
    func testFileDigestAndSpeed() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("muse-sha-\(UUID()).bin")
        defer { try? FileManager.default.removeItem(at: url) }
        let block = Data((0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 2654435761 >> 13) })
        var bytes = Data(capacity: 64 << 20)
        for i in 0..<(16 << 10) { bytes.append(block); bytes[bytes.count - 1] = UInt8(truncatingIfNeeded: i) }
        try bytes.write(to: url)
        let t0 = Date()
        let digest = try SHA256.hashFile(url.path)
        let seconds = Date().timeIntervalSince(t0)
        XCTAssertEqual(digest, SHA256.hash(bytes))
        XCTAssertLessThan(seconds, 2, "64 MiB hashed in \(seconds) s")
        print("SHA256Tests: 64 MiB file hashed in \(String(format: "%.3f", seconds)) s")
        XCTAssertThrowsError(try SHA256.hashFile("/no/such/file")) { XCTAssertTrue("\($0)".contains("/no/such/file"), "\($0)") }
        XCTAssertEqual(SHA256.hex([0x00, 0x0f, 0xa0, 0xff]), "000fa0ff")
    }

    /// Incremental updates of odd sizes give the one-shot digest.
    func testIncremental() {
        let data = (0..<1000).map { UInt8(truncatingIfNeeded: $0 * 7) }
        var s = SHA256()
        s.update(Array(data[0..<3])); s.update(Array(data[3..<100])); s.update(Array(data[100...]))
        XCTAssertEqual(s.finalize(), SHA256.hash(data))
    }

    /// The split key is emoji-test's spelling without U+FE0F; first digest bytes checked with sha256sum.
    func testSplitRule() {
        XCTAssertEqual(emojiKey([0x1F469, 0x200D, 0x1F33E]), "1F469 200D 1F33E")
        XCTAssertEqual(emojiKey([0x2764, 0xFE0F]), "2764")
        XCTAssertEqual(emojiKey([0x23, 0xFE0F, 0x20E3]), "0023 20E3")
        // printf '1F469 200D 1F33E' | sha256sum -> aa... (170, divisible by 10: eval)
        XCTAssertEqual(SHA256.hash("1F469 200D 1F33E")[0], 0xaa)
        XCTAssertEqual(emojiSplit([0x1F469, 0x200D, 0x1F33E]), "eval")
        // 2764 -> df (223), 0023 20E3 -> 76 (118), 1F600 -> a6 (166): train.
        XCTAssertEqual(SHA256.hash("2764")[0], 0xdf)
        XCTAssertEqual(emojiSplit([0x2764, 0xFE0F]), "train")
        XCTAssertEqual(SHA256.hash("0023 20E3")[0], 0x76)
        XCTAssertEqual(emojiSplit([0x23, 0xFE0F, 0x20E3]), "train")
        XCTAssertEqual(emojiSplit([0x1F600]), "train")
    }
}
