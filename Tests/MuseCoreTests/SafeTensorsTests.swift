import Foundation
import MuseCore
import XCTest

/// safetensors: round trips of every supported type and corrupt files.
final class SafeTensorsTests: XCTestCase {
    func tempURL() -> URL { FileManager.default.temporaryDirectory.appendingPathComponent("muse-st-\(UUID()).safetensors") }

    /// Builds a file by hand: header JSON + raw bytes (to test what our writer never makes).
    func handMade(_ header: String, _ body: [UInt8]) -> Data {
        var d = Data()
        var n = UInt64(header.utf8.count).littleEndian
        d.append(Data(bytes: &n, count: 8))
        d.append(Data(header.utf8))
        d.append(Data(body))
        return d
    }

    func testF32AndF16AndI64RoundTrip() throws {
        let a: [Float] = (0..<12).map { Float($0) * 0.37 - 2 }
        let b: [Float] = [0.5, -1.25, 3.0, 65504, 1e-3, -0.0]
        var w = SafeTensorsWriter()
        w.metadata["format"] = "pt"
        try w.add("layer.weight", a, shape: [3, 4])
        try w.add("half", b, shape: [6], as: .f16)
        try w.add("ids", ints: [1, -2, 1 << 40], shape: [3])
        let url = tempURL()
        try w.write(to: url)
        let f = try SafeTensorsFile(url)
        XCTAssertEqual(f.names, ["half", "ids", "layer.weight"])
        XCTAssertEqual(f.metadata["format"], "pt")
        XCTAssertEqual(try f.entry("layer.weight").shape, [3, 4])
        XCTAssertEqual(try f.floats("layer.weight", shape: [3, 4]), a)
        XCTAssertEqual(try f.entry("half").dtype, .f16)
        XCTAssertEqual(try f.floats("half"), b.map { Float(Float16($0)) })
        XCTAssertEqual(try f.ints("ids"), [1, -2, 1 << 40])
        XCTAssertThrowsError(try f.floats("layer.weight", shape: [4, 3])) { e in
            XCTAssertTrue("\(e)".contains("'layer.weight' has shape [3, 4], expected [4, 3]"), "\(e)")
        }
        XCTAssertThrowsError(try f.floats("nope")) { e in XCTAssertTrue("\(e)".contains("no tensor named 'nope'"), "\(e)") }
    }

    /// BF16 written by our writer: nearest even rounding of the low 16 bits, read back as Float.
    func testBF16RoundTrip() throws {
        let oneUlp: Float = 1.0 / 128                          // bf16 spacing at 1: 7 stored mantissa bits
        let values: [Float] = [1, -2.5, 0, -0.0, 3e-39, 1e-30, 6e37,
                               1 + oneUlp / 2,                 // a tie: rounds to even (1)
                               1 + 3 * oneUlp / 2,             // a tie: rounds to even (1 + 2 ulp)
                               1 + oneUlp * 0.51]              // above half: rounds up
        // Exact where bf16 holds the value or the rounding is pinned down; the
        // subnormal, tiny and huge ones are checked against the half-ulp bound below.
        let exact: [Int: Float] = [0: 1, 1: -2.5, 2: 0, 3: -0.0, 7: 1, 8: 1 + 2 * oneUlp, 9: 1 + oneUlp]
        var w = SafeTensorsWriter()
        try w.add("b", values, shape: [values.count], as: .bf16)
        let url = tempURL()
        try w.write(to: url)
        let f = try SafeTensorsFile(url)
        XCTAssertEqual(try f.entry("b").dtype, .bf16)
        let back = try f.floats("b")
        for (i, v) in exact { XCTAssertEqual(back[i], v, "\(values[i])") }
        XCTAssertEqual(back[3].sign, .minus)
        for (v, r) in zip(values, back) where v != 0 {
            // Half an ulp: 2^-8 relative for normal numbers, half of bf16's smallest subnormal (2^-133) below them.
            XCTAssertLessThanOrEqual(abs(r - v), max(abs(v) / 256, Float(sign: .plus, exponent: -134, significand: 1)), "\(v) -> \(r)")
        }
        XCTAssertEqual(bfloat16Bits(1), 0x3F80)
        XCTAssertEqual(bfloat16Bits(-2.5), 0xC020)
        XCTAssertEqual(bfloat16Bits(.infinity), 0x7F80)
        XCTAssertEqual(bfloat16Bits(Float.greatestFiniteMagnitude), 0x7F80)   // past bf16's largest: Inf, as IEEE rounds
        XCTAssertTrue(Float(bitPattern: UInt32(bfloat16Bits(.nan)) << 16).isNaN)
    }

    func testBF16AndI64Read() throws {
        // bf16 of 1.0 = 0x3F80, of -2.5 = 0xC020; i64 7 and -1.
        let header = #"{"b":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]},"i":{"dtype":"I64","shape":[2],"data_offsets":[4,20]}}"#
        var body: [UInt8] = [0x80, 0x3F, 0x20, 0xC0]
        body += [7, 0, 0, 0, 0, 0, 0, 0] + [UInt8](repeating: 0xFF, count: 8)
        let url = tempURL()
        try handMade(header, body).write(to: url)
        let f = try SafeTensorsFile(url)
        XCTAssertEqual(try f.floats("b"), [1.0, -2.5])
        XCTAssertEqual(try f.ints("i"), [7, -1])
        XCTAssertEqual(try f.floats("i"), [7, -1])
    }

    func expectError(_ data: Data, _ phrase: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let url = tempURL()
        try data.write(to: url)
        XCTAssertThrowsError(try SafeTensorsFile(url), file: file, line: line) { e in
            let msg = "\(e)"
            XCTAssertTrue(msg.contains(url.path) && msg.contains(phrase), msg, file: file, line: line)
        }
    }

    func testEmptyAndTinyFiles() throws {
        try expectError(Data(), "not a safetensors file")
        try expectError(Data([1, 2, 3]), "not a safetensors file")
    }

    func testOversizedHeaderLength() throws {
        var d = Data()
        var n = UInt64(1 << 40).littleEndian
        d.append(Data(bytes: &n, count: 8))
        d.append(Data("{}".utf8))
        try expectError(d, "oversized")
    }

    func testTruncatedFiles() throws {
        var w = SafeTensorsWriter()
        try w.add("x", [Float](repeating: 1, count: 100), shape: [10, 10])
        let good = try w.serialized()
        try expectError(good.prefix(20), "truncated")                    // inside the header
        try expectError(good.prefix(good.count - 4), "outside the data") // inside the data
    }

    func testGarbageHeader() throws {
        try expectError(handMade("this is not json at all", []), "not a JSON object")
        try expectError(Data((0..<64).map { UInt8(($0 * 97) % 256) }), "safetensors")
    }

    func testBadEntries() throws {
        try expectError(handMade(#"{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}"#, [0, 0, 0, 0]), "needs 8")
        try expectError(handMade(#"{"x":{"dtype":"Q4","shape":[1],"data_offsets":[0,4]}}"#, [0, 0, 0, 0]), "unsupported dtype Q4")
        try expectError(handMade(#"{"x":{"dtype":"F32","shape":"big"}}"#, []), "malformed header entry")
    }

    func testHostileShapesAndOffsets() throws {
        // Element counts whose byte size overflows Int must be refused, not trap.
        try expectError(handMade(#"{"x":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}}"#, []), "impossible shape")
        try expectError(handMade(#"{"x":{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,0]}}"#, []), "impossible shape")
        try expectError(handMade(#"{"x":{"dtype":"F32","shape":[1e30],"data_offsets":[0,4]}}"#, [0, 0, 0, 0]), "malformed shape")
        try expectError(handMade(#"{"x":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}}"#, [UInt8](repeating: 0, count: 8)), "malformed shape")
        try expectError(handMade(#"{"x":{"dtype":"F32","shape":[true],"data_offsets":[0,4]}}"#, [0, 0, 0, 0]), "malformed shape")
        try expectError(handMade(#"{"x":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#, [0, 0, 0, 0]), "malformed shape")
        try expectError(handMade(#"{"x":{"dtype":"F32","shape":[1],"data_offsets":[9223372036854775807,4]}}"#, [0, 0, 0, 0]), "malformed shape")
    }

    // MARK: regression inputs from mutation testing (issue 16)

    /// A valid file whose header length was decremented by one (the mutation that
    /// was accepted with every tensor read one byte off): the JSON still parses
    /// (its trailing padding space is cut), but the data block gains a byte the
    /// tensors do not cover.
    func testHeaderLengthOneByteShortIsRefused() throws {
        var w = SafeTensorsWriter()
        try w.add("a", [1, 2, 3], shape: [3])
        try w.add("b", [4, 5], shape: [2])
        var good = try w.serialized()
        let goodURL = tempURL()
        try good.write(to: goodURL)
        XCTAssertEqual(try SafeTensorsFile(goodURL).floats("a"), [1, 2, 3])
        // The header is padded with spaces to a multiple of 8; make sure there is one to cut.
        let n = good.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
        XCTAssertEqual(good[8 + Int(n) - 1], 0x20)
        good.replaceSubrange(0..<8, with: withUnsafeBytes(of: (n - 1).littleEndian) { Data($0) })
        try expectError(good, "the tensors cover 20 bytes but the data block has 21")
        // One byte too long: the header swallows the first data byte and is no longer JSON,
        // or (hand-made, padded) the tensors cover fewer bytes than remain.
        var long = try w.serialized()
        long.replaceSubrange(0..<8, with: withUnsafeBytes(of: (n + 1).littleEndian) { Data($0) })
        try expectError(long, "safetensors")
    }

    /// Tensors whose byte ranges overlap, leave a hole, or stop short of the end.
    func testDataRangesMustTileTheBuffer() throws {
        let body = [UInt8](repeating: 0, count: 16)
        try expectError(handMade(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#,
                                 Array(body[0..<12])), "'a' (bytes 0..<8) and 'b' (bytes 4..<12) overlap")
        try expectError(handMade(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#,
                                 Array(body[0..<8])), "overlap")
        try expectError(handMade(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}"#,
                                 body), "bytes 4..<8 of the data block belong to no tensor (a hole before 'b')")
        try expectError(handMade(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, body), "the tensors cover 8 bytes but the data block has 16")
        try expectError(handMade(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#, Array(body[0..<12])), "bytes 0..<4")
        try expectError(handMade(#"{}"#, [0]), "the tensors cover 0 bytes but the data block has 1")
        // Header must start with '{' (the format says so).
        try expectError(handMade(#" {"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, [0, 0, 0, 0]), "not a JSON object")
        // Exact tiling in any header order, empty tensors included, is accepted.
        let url = tempURL()
        try handMade(#"{"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]},"e":{"dtype":"F32","shape":[0],"data_offsets":[4,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#,
                     Array(body[0..<12])).write(to: url)
        XCTAssertEqual(try SafeTensorsFile(url).names, ["a", "b", "e"])
    }

    /// NaN and infinities in F32, F16 and BF16 tensors are refused on read with the
    /// tensor's name; integer tensors and finite values pass.
    func testNonFiniteValuesAreRefusedWithTheTensorName() throws {
        for (dtype, bad) in [(SafeTensorDType.f32, Float.nan), (.f32, .infinity), (.f16, -.infinity), (.f16, .nan)] {
            var w = SafeTensorsWriter()
            try w.add("ok", [1, 2], shape: [2], as: dtype)
            try w.add("layer.weight", [0.5, -1, bad, 3], shape: [2, 2], as: dtype)
            let url = tempURL()
            try w.write(to: url)
            let f = try SafeTensorsFile(url)
            XCTAssertEqual(try f.floats("ok"), [1, 2])
            XCTAssertThrowsError(try f.floats("layer.weight")) { e in
                XCTAssertTrue("\(e)".contains("tensor 'layer.weight' holds \(bad) at element 2 of 4"), "\(e)")
            }
            XCTAssertEqual(try f.floats("layer.weight", allowNonFinite: true)[2].isFinite, false)
        }
        // BF16: 0x7FC0 is NaN, 0xFF80 is -inf.
        let url = tempURL()
        try handMade(#"{"n":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]},"i":{"dtype":"BF16","shape":[1],"data_offsets":[4,6]}}"#,
                     [0x80, 0x3F, 0xC0, 0x7F, 0x80, 0xFF]).write(to: url)
        let f = try SafeTensorsFile(url)
        XCTAssertThrowsError(try f.floats("n")) { e in XCTAssertTrue("\(e)".contains("'n' holds nan at element 1 of 2"), "\(e)") }
        XCTAssertThrowsError(try f.floats("i")) { e in XCTAssertTrue("\(e)".contains("'i' holds -inf at element 0"), "\(e)") }
        XCTAssertNil(SafeTensorsFile.firstNonFinite([0, 1, -Float.greatestFiniteMagnitude, .leastNonzeroMagnitude]))
        XCTAssertEqual(SafeTensorsFile.firstNonFinite([0, 1, 2, .infinity, .nan]), 3)
    }

    func testMissingFile() {
        XCTAssertThrowsError(try SafeTensorsFile(URL(fileURLWithPath: "/no/such.safetensors"))) { e in
            XCTAssertTrue("\(e)".contains("/no/such.safetensors: weights file not found"), "\(e)")
        }
    }

    func testWriterRefusesMismatchedShape() {
        var w = SafeTensorsWriter()
        XCTAssertThrowsError(try w.add("x", [1, 2, 3], shape: [2, 2]))
    }
}
