import Foundation

/// A request the server refuses, with the HTTP status and the message the page shows.
public struct ServeError: Error, CustomStringConvertible, Sendable {
    public let status: Int
    public let message: String
    public init(_ status: Int, _ message: String) { self.status = status; self.message = message }
    public var description: String { "\(status): \(message)" }

    static func badRequest(_ m: String) -> ServeError { ServeError(400, m) }
    static func notFound(_ m: String) -> ServeError { ServeError(404, m) }
    static func conflict(_ m: String) -> ServeError { ServeError(409, m) }
    static func tooLarge(_ m: String) -> ServeError { ServeError(413, m) }
    static func busy(_ m: String) -> ServeError { ServeError(503, m) }
}

/// File names the server hands out and accepts back: letters, digits, `.`, `_`
/// and `-`, not starting with a dot. Anything else (a `/`, `..`, a NUL) is refused
/// before the file system sees it.
enum SafeName {
    static func check(_ name: String) -> Bool {
        guard !name.isEmpty, name.count <= 200, !name.hasPrefix(".") else { return false }
        return name.unicodeScalars.allSatisfy { c in
            (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || (c >= "0" && c <= "9") || c == "." || c == "_" || c == "-"
        }
    }
}
