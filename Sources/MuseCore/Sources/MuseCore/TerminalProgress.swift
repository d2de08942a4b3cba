import Foundation

/// The one progress display of the tools (`muse-run` stages, `muse-data`
/// builders, `muse-train` checks): one line per task on standard error.
///
/// - On a terminal (`interactive`): the line `task [#####...] step/total (pct%) note`
///   is redrawn in place with `\r`, at most 20 times a second but always for the
///   first and last step, and ended with a newline by `finish` (or when another
///   task starts).
/// - Otherwise (a log file, CI): a plain line at each tenth of the way and at
///   the end, so logs stay short.
///
/// Thread-safe.
public final class TerminalProgress: ProgressReporter, @unchecked Sendable {
    public let interactive: Bool
    private let write: (String) -> Void
    private let lock = NSLock()
    private var current: String?          // task whose line is open (interactive)
    private var lastWidth = 0
    private var lastDraw: UInt64 = 0
    private var lastTenth: [String: Int] = [:]

    /// - Parameters:
    ///   - interactive: redraw one line in place (default: when stderr is a terminal).
    ///   - write: where text goes (default: standard error).
    public init(interactive: Bool = TerminalProgress.stderrIsTerminal,
                write: @escaping (String) -> Void = { FileHandle.standardError.write(Data($0.utf8)) }) {
        self.interactive = interactive
        self.write = write
    }

    /// True when stderr is a terminal.
    public static var stderrIsTerminal: Bool { isatty(2) != 0 }

    /// The text of a progress line (no `\r` or newline).
    public static func line(task: String, step: Int, total: Int, note: String, bar: Bool) -> String {
        let frac = total > 0 ? min(1, max(0, Double(step) / Double(total))) : 0
        var s = task
        if bar {
            let width = 24, filled = Int(frac * Double(width))
            s += " [" + String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled) + "]"
        } else {
            s += ":"
        }
        s += " \(step)/\(total) (\(Int(frac * 100))%)"
        if !note.isEmpty { s += " " + note }
        return s
    }

    public func update(stage: String, step: Int, total: Int, note: String) {
        lock.lock(); defer { lock.unlock() }
        if interactive {
            let now = DispatchTime.now().uptimeNanoseconds
            let isNew = current != stage
            if isNew, current != nil { write("\n"); lastWidth = 0 }
            current = stage
            if !isNew && step < total && now - lastDraw < 50_000_000 { return }
            lastDraw = now
            let text = TerminalProgress.line(task: stage, step: step, total: total, note: note, bar: true)
            write("\r" + text + String(repeating: " ", count: max(0, lastWidth - text.count)))
            lastWidth = text.count
        } else {
            let tenth = total > 0 ? min(10, max(0, step * 10 / total)) : 0
            guard tenth > (lastTenth[stage] ?? 0) || (step >= total && lastTenth[stage] != 10) else { return }
            lastTenth[stage] = step >= total ? 10 : tenth
            write(TerminalProgress.line(task: stage, step: step, total: total, note: note, bar: false) + "\n")
        }
    }

    /// A function that reports `done` of `total` for `task` and finishes the
    /// line when `done` reaches `total` (for loops that only count).
    public func counter(_ task: String, total: Int) -> (Int) -> Void {
        { [self] done in
            update(stage: task, step: done, total: total, note: "")
            if done >= total { finish(stage: task) }
        }
    }

    public func finish(stage: String) {
        lock.lock(); defer { lock.unlock() }
        if interactive {
            if current != nil { write("\n") }
            current = nil; lastWidth = 0
        } else {
            lastTenth[stage] = nil
        }
    }
}
