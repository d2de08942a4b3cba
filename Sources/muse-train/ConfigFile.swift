import Foundation
import MuseCore
import Yams

/// A training config file (YAML): a mapping of sections and keys. Every read is
/// typed and every error names `file:line:column`; keys that no reader asked for
/// are reported by `finish()` (so a misspelt key is an error, not a silent default).
final class ConfigFile {
    let url: URL
    private let root: Node.Mapping
    private var used: Set<String> = []

    init(_ url: URL) throws {
        self.url = url
        let text: String
        do { text = try String(contentsOf: url, encoding: .utf8) } catch {
            throw MuseError("\(url.path): cannot read config (\(error.localizedDescription))")
        }
        let node: Node?
        do { node = try Yams.compose(yaml: text) } catch let e as YamlError {
            throw MuseError("\(url.path): \(e)")
        }
        guard let m = node?.mapping else { throw MuseError("\(url.path):1:1: expected a mapping of config sections") }
        root = m
    }

    private func at(_ node: Node) -> String {
        guard let m = node.mark else { return url.path }
        return "\(url.path):\(m.line):\(m.column)"
    }

    /// The directory relative paths are resolved against.
    var directory: URL { url.deletingLastPathComponent() }

    private func lookup(_ section: String?, _ key: String) throws -> Node? {
        var map = root
        if let section {
            guard let s = root[Node(section)] else { return nil }
            guard let sm = s.mapping else { throw MuseError("\(at(s)): section '\(section)' must be a mapping") }
            used.insert(section)
            map = sm
        }
        let v = map[Node(key)]
        if v != nil { used.insert(section.map { "\($0).\(key)" } ?? key) }
        return v
    }

    func int(_ section: String?, _ key: String, default d: Int, range: ClosedRange<Int>) throws -> Int {
        guard let n = try lookup(section, key) else { return d }
        guard let s = n.scalar?.string, let v = Int(s) else { throw MuseError("\(at(n)): '\(key)' must be an integer") }
        guard range.contains(v) else { throw MuseError("\(at(n)): '\(key)' = \(v) must be in \(range)") }
        return v
    }

    func float(_ section: String?, _ key: String, default d: Float, range: ClosedRange<Float>) throws -> Float {
        guard let n = try lookup(section, key) else { return d }
        guard let s = n.scalar?.string, let v = Float(s), v.isFinite else { throw MuseError("\(at(n)): '\(key)' must be a number") }
        guard range.contains(v) else { throw MuseError("\(at(n)): '\(key)' = \(v) must be in \(range)") }
        return v
    }

    func string(_ section: String?, _ key: String, default d: String) throws -> String {
        guard let n = try lookup(section, key) else { return d }
        guard let s = n.scalar?.string else { throw MuseError("\(at(n)): '\(key)' must be a string") }
        return s
    }

    func ints(_ section: String?, _ key: String, default d: [Int]) throws -> [Int] {
        guard let n = try lookup(section, key) else { return d }
        guard let seq = n.sequence else { throw MuseError("\(at(n)): '\(key)' must be a list of integers") }
        return try seq.map { e in
            guard let s = e.scalar?.string, let v = Int(s) else { throw MuseError("\(at(e)): '\(key)' entries must be integers") }
            return v
        }
    }

    /// A path relative to the config file's folder (absolute paths stay).
    func path(_ section: String?, _ key: String, default d: String) throws -> URL {
        let s = try string(section, key, default: d)
        return s.hasPrefix("/") ? URL(fileURLWithPath: s) : directory.appendingPathComponent(s).standardizedFileURL
    }

    /// Throws naming the first key or section present in the file that nothing read.
    func finish() throws {
        for (k, v) in root {
            guard let name = k.scalar?.string else { throw MuseError("\(at(k)): keys must be strings") }
            if let m = v.mapping {
                for (k2, _) in m {
                    let full = "\(name).\(k2.scalar?.string ?? "?")"
                    if !used.contains(full) { throw MuseError("\(at(k2)): unknown key '\(full)'") }
                }
            } else if !used.contains(name) {
                throw MuseError("\(at(k)): unknown key '\(name)'")
            }
        }
    }
}
