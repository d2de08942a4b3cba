import Foundation

/// The one error type that crosses the plugin boundary. Its message is what the
/// user sees, so it should name the file, stage or tensor at fault.
public struct MuseError: Error, CustomStringConvertible, LocalizedError {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
    public var errorDescription: String? { message }
}
