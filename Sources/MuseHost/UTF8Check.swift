import Foundation
import MuseCore

/// Finds invalid UTF-8 in text the user gives (command-line arguments, pipeline
/// files) so it is refused with the byte offset instead of being silently
/// replaced by U+FFFD (which the text encoder then drops).
public enum UTF8Check {
    /// Offset of the first byte that does not start a valid UTF-8 sequence
    /// (overlong forms, surrogates and truncated sequences included), or nil.
    public static func firstInvalidByte<C: Collection>(_ bytes: C) -> Int? where C.Element == UInt8 {
        var parser = Unicode.UTF8.ForwardParser()
        var it = bytes.makeIterator()
        var offset = 0
        while true {
            switch parser.parseScalar(from: &it) {
            case .valid(let s): offset += s.count
            case .emptyInput: return nil
            case .error: return offset
            }
        }
    }

    /// A message for the first command-line argument (after the program name) that
    /// is not valid UTF-8, naming the option it belongs to and the byte offset; nil
    /// when all are valid.
    public static func problem(inArguments args: [[UInt8]]) -> String? {
        for (i, arg) in args.enumerated() {
            guard let at = firstInvalidByte(arg) else { continue }
            let hex = String(format: "0x%02X", arg[at])
            // Name the option: `--prompt=...` itself, or the option before a value.
            let text = String(decoding: arg, as: UTF8.self)
            var what = "argument \(i + 1)"
            if text.hasPrefix("--"), let eq = arg.firstIndex(of: UInt8(ascii: "=")), eq < at {
                what = "the value of \(String(decoding: arg[..<eq], as: UTF8.self)) (argument \(i + 1))"
            } else if i > 0, firstInvalidByte(args[i - 1]) == nil, case let prev = String(decoding: args[i - 1], as: UTF8.self), prev.hasPrefix("-") {
                what = "the value of \(prev) (argument \(i + 1))"
            }
            return "\(what) is not valid UTF-8: byte \(hex) at byte offset \(at) of \(arg.count); give text in UTF-8"
        }
        return nil
    }

    /// The process's own arguments (after the program name), as raw bytes.
    public static var rawArguments: [[UInt8]] {
        (1..<Int(CommandLine.argc)).map { i in
            guard let p = CommandLine.unsafeArgv[i] else { return [] }
            return Array(UnsafeBufferPointer(start: UnsafeRawPointer(p).assumingMemoryBound(to: UInt8.self), count: strlen(p)))
        }
    }

    /// The 1-based line and column (in bytes) of byte `offset` of `bytes`.
    public static func lineAndColumn(_ bytes: [UInt8], offset: Int) -> (line: Int, column: Int) {
        var line = 1, start = 0
        for (i, b) in bytes[..<offset].enumerated() where b == UInt8(ascii: "\n") { line += 1; start = i + 1 }
        return (line, offset - start + 1)
    }
}
