import Foundation

/// The CSV logs of a training run (loss.csv, eval.csv): one row per step or
/// evaluation, the step in the first column. Shared by every training command.
enum TrainingLog {
    /// Keeps the header and the rows whose first column (the step) is at most `step`.
    static func truncateLog(_ url: URL, afterStep step: Int) throws {
        guard let text = try? String(contentsOf: url, encoding: .utf8) else { return }
        var lines = text.split(separator: "\n", omittingEmptySubsequences: true)
        guard let header = lines.first else { return }
        let columns = header.split(separator: ",", omittingEmptySubsequences: false).count
        // Rows after the checkpoint, and a row cut short by a kill, go.
        lines = lines.enumerated().filter { i, l in
            let c = l.split(separator: ",", omittingEmptySubsequences: false)
            return i == 0 || (c.count == columns && (Int(c[0]) ?? Int.max) <= step)
        }.map { $0.element }
        try (lines.joined(separator: "\n") + "\n").write(to: url, atomically: true, encoding: .utf8)
    }

    /// The step (first column) of the last data row of a CSV log, if any.
    static func lastStep(in url: URL) -> Int? {
        guard let text = try? String(contentsOf: url, encoding: .utf8) else { return nil }
        return text.split(separator: "\n").dropFirst().last.flatMap { Int($0.split(separator: ",").first ?? "") }
    }

    static func append(_ line: String, to url: URL, header: String) throws {
        if !FileManager.default.fileExists(atPath: url.path) { try (header + "\n").write(to: url, atomically: true, encoding: .utf8) }
        let h = try FileHandle(forWritingTo: url)
        defer { try? h.close() }
        try h.seekToEnd()
        try h.write(contentsOf: Data((line + "\n").utf8))
    }
}
