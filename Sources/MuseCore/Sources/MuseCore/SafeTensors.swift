import Foundation

/// Element types of the safetensors format that this project reads or writes.
public enum SafeTensorDType: String, Sendable {
    case f32 = "F32", f16 = "F16", bf16 = "BF16", i64 = "I64", i32 = "I32"
    public var size: Int {
        switch self { case .f32, .i32: return 4; case .f16, .bf16: return 2; case .i64: return 8 }
    }
}

/// A safetensors file, memory-mapped: the header is parsed and checked when
/// opened; tensor data is read (and converted) on demand.
///
/// Format: 8-byte little-endian header length N, N bytes of JSON
/// (`{"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}`),
/// then the data block that the offsets index.
public final class SafeTensorsFile {
    public struct Entry: Sendable {
        public let name: String
        public let dtype: SafeTensorDType
        public let shape: [Int]
        public let begin: Int
        public let end: Int
        public var count: Int { shape.reduce(1, *) }
    }

    /// Header larger than this is refused (the format's reference sets 100 MB).
    public static let maxHeaderBytes = 100_000_000

    public let url: URL
    public let entries: [String: Entry]
    public let metadata: [String: String]
    private let data: Data
    private let dataStart: Int

    public var names: [String] { entries.keys.sorted() }

    public init(_ url: URL) throws {
        self.url = url
        let name = url.path
        guard FileManager.default.fileExists(atPath: name) else { throw MuseError("\(name): weights file not found") }
        let d: Data
        do { d = try Data(contentsOf: url, options: .alwaysMapped) } catch {
            throw MuseError("\(name): cannot read (\(error.localizedDescription))")
        }
        data = d
        guard d.count >= 8 else { throw MuseError("\(name): not a safetensors file (only \(d.count) bytes)") }
        let n = d.prefix(8).withUnsafeBytes { raw -> UInt64 in
            var v: UInt64 = 0
            for i in (0..<8).reversed() { v = (v << 8) | UInt64(raw[i]) }
            return v
        }
        guard n <= UInt64(SafeTensorsFile.maxHeaderBytes) else {
            throw MuseError("\(name): safetensors header length \(n) is oversized (limit \(SafeTensorsFile.maxHeaderBytes)); file is corrupt or not safetensors")
        }
        guard Int(n) <= d.count - 8 else {
            throw MuseError("\(name): truncated safetensors file (header says \(n) bytes, file has \(d.count - 8) after the length)")
        }
        dataStart = 8 + Int(n)
        let headerData = d.subdata(in: 8..<dataStart)
        // The format's header is a JSON object whose first byte is `{`.
        guard headerData.first == UInt8(ascii: "{"),
              let json = try? JSONSerialization.jsonObject(with: headerData), let dict = json as? [String: Any] else {
            throw MuseError("\(name): safetensors header is not a JSON object (garbage or corrupt file)")
        }
        var entries: [String: Entry] = [:]
        var metadata: [String: String] = [:]
        let dataSize = d.count - dataStart
        for (key, value) in dict {
            if key == "__metadata__" {
                if let m = value as? [String: Any] { for (k, v) in m { metadata[k] = "\(v)" } }
                continue
            }
            guard let info = value as? [String: Any],
                  let dtypeString = info["dtype"] as? String,
                  let shapeAny = info["shape"] as? [Any],
                  let offsetsAny = info["data_offsets"] as? [Any], offsetsAny.count == 2 else {
                throw MuseError("\(name): tensor '\(key)' has a malformed header entry")
            }
            guard let dtype = SafeTensorDType(rawValue: dtypeString) else {
                throw MuseError("\(name): tensor '\(key)' has unsupported dtype \(dtypeString) (supported: F32, F16, BF16, I64, I32)")
            }
            // Integral JSON numbers only (not 2.5, not true), and sizes that cannot overflow.
            let shape = shapeAny.compactMap(JSONNumber.integer)
            let offsets = offsetsAny.compactMap(JSONNumber.integer)
            guard shape.count == shapeAny.count, shape.allSatisfy({ $0 >= 0 }), offsets.count == 2 else {
                throw MuseError("\(name): tensor '\(key)' has a malformed shape or offsets")
            }
            var bytes = dtype.size
            for d in shape {
                let (p, overflow) = bytes.multipliedReportingOverflow(by: d)
                guard !overflow else { throw MuseError("\(name): tensor '\(key)' has an impossible shape \(shape)") }
                bytes = p
            }
            let e = Entry(name: key, dtype: dtype, shape: shape, begin: offsets[0], end: offsets[1])
            guard e.begin >= 0, e.end >= e.begin, e.end <= dataSize else {
                throw MuseError("\(name): tensor '\(key)' lies outside the data (offsets \(e.begin)..<\(e.end), data has \(dataSize) bytes): truncated file?")
            }
            guard e.end - e.begin == bytes else {
                throw MuseError("\(name): tensor '\(key)' has \(e.end - e.begin) bytes but shape \(shape) of \(dtype.rawValue) needs \(bytes)")
            }
            entries[key] = e
        }
        try SafeTensorsFile.checkTiling(entries.values, dataSize: dataSize, name: name)
        self.entries = entries
        self.metadata = metadata
    }

    /// The format requires the tensors' byte ranges to cover the data block
    /// exactly: no overlaps, no holes, nothing after the last tensor. A header
    /// length that is off by a few bytes, or a damaged offset, breaks this, so
    /// it is refused instead of reading every tensor shifted.
    static func checkTiling<C: Collection>(_ entries: C, dataSize: Int, name: String) throws where C.Element == Entry {
        let sorted = entries.sorted { ($0.begin, $0.end, $0.name) < ($1.begin, $1.end, $1.name) }
        var covered = 0
        var previous: Entry?
        for e in sorted {
            if e.begin < covered, let p = previous {
                throw MuseError("\(name): tensors '\(p.name)' (bytes \(p.begin)..<\(p.end)) and '\(e.name)' (bytes \(e.begin)..<\(e.end)) overlap; the file is corrupt")
            }
            if e.begin > covered {
                throw MuseError("\(name): bytes \(covered)..<\(e.begin) of the data block belong to no tensor (a hole before '\(e.name)'); the file is corrupt or its header length is wrong")
            }
            covered = e.end
            if e.end > e.begin { previous = e }
        }
        guard covered == dataSize else {
            throw MuseError("\(name): the tensors cover \(covered) bytes but the data block has \(dataSize); the file is corrupt or its header length is wrong")
        }
    }

    public func entry(_ tensor: String) throws -> Entry {
        guard let e = entries[tensor] else {
            throw MuseError("\(url.path): no tensor named '\(tensor)'")
        }
        return e
    }

    /// The tensor's values as Float32 (F32, F16, BF16 converted; I64/I32 cast).
    /// A float tensor holding NaN or an infinity is refused, naming the tensor
    /// and the first bad element: no weights, optimizer state or embedding is
    /// meaningful with them, and loading them silently gives NaN everywhere.
    public func floats(_ tensor: String) throws -> [Float] {
        try floats(tensor, allowNonFinite: false)
    }

    /// The tensor's values as Float32; `allowNonFinite` skips the NaN/inf check.
    public func floats(_ tensor: String, allowNonFinite: Bool) throws -> [Float] {
        let e = try entry(tensor)
        let n = e.count
        var out = [Float](repeating: 0, count: n)
        data.withUnsafeBytes { raw in
            let base = raw.baseAddress!.advanced(by: dataStart + e.begin)
            out.withUnsafeMutableBufferPointer { o in
                switch e.dtype {
                case .f32:
                    memcpy(o.baseAddress!, base, n * 4)
                case .f16:
                    for i in 0..<n { o[i] = Float(base.loadUnaligned(fromByteOffset: i * 2, as: Float16.self)) }
                case .bf16:
                    for i in 0..<n {
                        let bits = UInt32(base.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self)) << 16
                        o[i] = Float(bitPattern: bits)
                    }
                case .i64:
                    for i in 0..<n { o[i] = Float(base.loadUnaligned(fromByteOffset: i * 8, as: Int64.self)) }
                case .i32:
                    for i in 0..<n { o[i] = Float(base.loadUnaligned(fromByteOffset: i * 4, as: Int32.self)) }
                }
            }
        }
        if !allowNonFinite, e.dtype == .f32 || e.dtype == .f16 || e.dtype == .bf16, let i = SafeTensorsFile.firstNonFinite(out) {
            throw MuseError("\(url.path): tensor '\(tensor)' holds \(out[i]) at element \(i) of \(out.count) (\(e.dtype.rawValue) \(e.shape)); refusing non-finite values (diverged training or a corrupt file)")
        }
        return out
    }

    /// Index of the first NaN or infinity in `values`, or nil. One pass over the
    /// bits (exponent all ones) that the compiler vectorises; the index is only
    /// searched for when there is one.
    public static func firstNonFinite(_ values: [Float]) -> Int? {
        let bad: Bool = values.withUnsafeBufferPointer { buf in
            buf.withMemoryRebound(to: UInt32.self) { bits in
                var any: UInt32 = 0
                for b in bits { any |= ((b & 0x7f80_0000) == 0x7f80_0000) ? 1 : 0 }
                return any != 0
            }
        }
        return bad ? values.firstIndex { !$0.isFinite } : nil
    }

    /// Checks the tensor's shape and returns its values as Float32.
    public func floats(_ tensor: String, shape: [Int]) throws -> [Float] {
        let e = try entry(tensor)
        guard e.shape == shape else {
            throw MuseError("\(url.path): tensor '\(tensor)' has shape \(e.shape), expected \(shape)")
        }
        return try floats(tensor)
    }

    /// An integer tensor (I64 or I32) as Int64 values.
    public func ints(_ tensor: String) throws -> [Int64] {
        let e = try entry(tensor)
        var out = [Int64](repeating: 0, count: e.count)
        try data.withUnsafeBytes { raw in
            let base = raw.baseAddress!.advanced(by: dataStart + e.begin)
            switch e.dtype {
            case .i64: for i in 0..<e.count { out[i] = base.loadUnaligned(fromByteOffset: i * 8, as: Int64.self) }
            case .i32: for i in 0..<e.count { out[i] = Int64(base.loadUnaligned(fromByteOffset: i * 4, as: Int32.self)) }
            default: throw MuseError("\(url.path): tensor '\(tensor)' is \(e.dtype.rawValue), not an integer type")
            }
        }
        return out
    }
}

/// The bf16 bit pattern of `f`, rounded to nearest even. NaNs stay NaN (made
/// quiet, sign kept: rounding their payload could carry into the exponent
/// and give Inf, or wrap to zero); finite values past the largest bf16
/// round to Inf, as IEEE rounding does.
@inline(__always) public func bfloat16Bits(_ f: Float) -> UInt16 {
    let b = f.bitPattern
    if (b & 0x7FFF_FFFF) > 0x7F80_0000 { return UInt16(truncatingIfNeeded: b >> 16) | 0x0040 }
    return UInt16(truncatingIfNeeded: (b &+ 0x7FFF &+ ((b >> 16) & 1)) >> 16)
}

/// Builds a safetensors file from named tensors (F32, F16 or BF16 floats, I64 ints).
public struct SafeTensorsWriter {
    private var items: [(name: String, dtype: SafeTensorDType, shape: [Int], bytes: Data)] = []
    public var metadata: [String: String] = [:]

    public init() {}

    public mutating func add(_ name: String, _ values: [Float], shape: [Int], as dtype: SafeTensorDType = .f32) throws {
        guard values.count == shape.reduce(1, *) else {
            throw MuseError("safetensors: tensor '\(name)' has \(values.count) values for shape \(shape)")
        }
        var bytes: Data
        switch dtype {
        case .f32: bytes = values.withUnsafeBufferPointer { Data(buffer: $0) }
        case .f16: bytes = values.map { Float16($0) }.withUnsafeBufferPointer { Data(buffer: $0) }
        case .bf16: bytes = values.map { bfloat16Bits($0) }.withUnsafeBufferPointer { Data(buffer: $0) }
        default: throw MuseError("safetensors: writing \(dtype.rawValue) floats is not supported (F32, F16 or BF16)")
        }
        items.append((name, dtype, shape, bytes))
    }

    public mutating func add(_ name: String, ints values: [Int64], shape: [Int]) throws {
        guard values.count == shape.reduce(1, *) else {
            throw MuseError("safetensors: tensor '\(name)' has \(values.count) values for shape \(shape)")
        }
        items.append((name, .i64, shape, values.withUnsafeBufferPointer { Data(buffer: $0) }))
    }

    /// The file's bytes: tensors in name order, header padded to 8 bytes.
    public func serialized() throws -> Data {
        let sorted = items.sorted { $0.name < $1.name }
        var header: [String: Any] = [:]
        var offset = 0
        for it in sorted {
            header[it.name] = ["dtype": it.dtype.rawValue, "shape": it.shape, "data_offsets": [offset, offset + it.bytes.count]]
            offset += it.bytes.count
        }
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while json.count % 8 != 0 { json.append(0x20) }
        var out = Data()
        var n = UInt64(json.count).littleEndian
        out.append(Data(bytes: &n, count: 8))
        out.append(json)
        for it in sorted { out.append(it.bytes) }
        return out
    }

    /// Writes to a temporary file beside `url` and renames it into place; only
    /// a regular file is created or replaced (`AtomicFile`).
    public func write(to url: URL) throws {
        try AtomicFile.write(try serialized(), to: url, what: "safetensors")
    }
}
