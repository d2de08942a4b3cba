import Foundation

/// Finds a file whose path was typed with other letter case: the design card
/// spells the folder `pipelines/`, the repository has `Pipelines/`, and both
/// must work on Linux's case-sensitive file systems.
public enum PathCase {
    /// `path` when it exists; else the one existing path that matches it component
    /// by component ignoring case; else `path` unchanged (the caller reports it missing).
    public static func resolve(_ path: String) -> String {
        let fm = FileManager.default
        if path.isEmpty || fm.fileExists(atPath: path) { return path }
        let absolute = path.hasPrefix("/")
        var current = absolute ? "/" : "."
        var parts: [String] = []
        for component in path.split(separator: "/", omittingEmptySubsequences: true).map(String.init) {
            let here = current == "." && parts.isEmpty ? "." : current
            if component == "." || component == ".." || fm.fileExists(atPath: (here as NSString).appendingPathComponent(component)) {
                parts.append(component)
            } else {
                let entries = (try? fm.contentsOfDirectory(atPath: here)) ?? []
                let matches = entries.filter { $0.lowercased() == component.lowercased() }
                guard matches.count == 1 else { return path }
                parts.append(matches[0])
            }
            current = (absolute ? "/" : "") + parts.joined(separator: "/")
        }
        return current
    }
}
