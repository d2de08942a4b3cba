import Foundation
import MuseCore

/// A place in a pipeline file (1-based line and column), or the command line.
public struct SourceLocation: CustomStringConvertible, Sendable {
    public let file: String
    public let line: Int
    public let column: Int
    public init(file: String, line: Int, column: Int) { self.file = file; self.line = line; self.column = column }
    /// For values given on the command line (`--set`, `--prompt`, ...).
    public static func commandLine(_ what: String) -> SourceLocation { SourceLocation(file: "command line (\(what))", line: 0, column: 0) }
    public var description: String { line > 0 ? "\(file):\(line):\(column)" : file }
}

/// One problem found in a pipeline, with where it is.
public struct PipelineIssue: CustomStringConvertible, Sendable {
    public let location: SourceLocation
    public let message: String
    public var description: String { "\(location): error: \(message)" }
}

/// All the problems found while parsing or validating a pipeline.
public struct PipelineError: Error, CustomStringConvertible, LocalizedError {
    public let issues: [PipelineIssue]
    public init(_ issues: [PipelineIssue]) { self.issues = issues }
    public init(_ location: SourceLocation, _ message: String) { self.issues = [PipelineIssue(location: location, message: message)] }
    public var description: String { issues.map(\.description).joined(separator: "\n") }
    public var errorDescription: String? { description }
}

/// "did you mean 'x'?" for a misspelt name, or "" when nothing is close.
public func didYouMean(_ name: String, among candidates: [String]) -> String {
    func distance(_ a: [Character], _ b: [Character]) -> Int {
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var prev = Array(0...b.count), cur = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            cur[0] = i
            for j in 1...b.count {
                cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            swap(&prev, &cur)
        }
        return prev[b.count]
    }
    let n = Array(name)
    let best = candidates.map { ($0, distance(n, Array($0))) }.min { $0.1 < $1.1 }
    guard let (c, d) = best, d <= max(2, name.count / 3) else { return "" }
    return " (did you mean '\(c)'?)"
}
