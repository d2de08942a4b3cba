import Foundation
import MuseCore

/// The stage kinds available to a run, from every plugin found.
///
/// Search order: the folder holding the muse-run executable, then each folder
/// in `MUSE_PLUGIN_PATH` (colon-separated), then each `--plugins` folder, then
/// paths a pipeline lists under `plugins:` (relative to the YAML file). In a
/// folder, every `libMuse*.so` is a plugin, except the shared libMuseCore.so
/// and libMuseEngine.so.
public final class PluginRegistry {
    public struct Entry {
        public let descriptor: StageDescriptor
        public let plugin: MusePlugin
        public let path: String
        public var spec: StageSpec { descriptor.spec }
    }

    public private(set) var kinds: [String: Entry] = [:]
    public private(set) var plugins: [LoadedPlugin] = []
    /// Plugins that failed to load, with the reason (reported, never fatal by themselves).
    public private(set) var failures: [(path: String, error: String)] = []
    private var loadedPaths: Set<String> = []

    public init() {}

    /// Shared libraries in the search folders that are never plugins.
    static let sharedLibraries: Set<String> = ["libMuseCore.so", "libMuseEngine.so"]

    /// The `libMuse*.so` plugin files in `folder`, sorted.
    public static func pluginFiles(in folder: String) -> [String] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else { return [] }
        return names.filter { $0.hasPrefix("libMuse") && $0.hasSuffix(".so") && !sharedLibraries.contains($0) }
            .sorted().map { (folder as NSString).appendingPathComponent($0) }
    }

    /// The default search folders: next to the executable, then MUSE_PLUGIN_PATH.
    public static func defaultFolders() -> [String] {
        // The running executable's real path (argv[0] is just "muse-run" when found on PATH).
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
            ?? URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().path
        var folders = [URL(fileURLWithPath: exe).deletingLastPathComponent().path]
        if let env = ProcessInfo.processInfo.environment["MUSE_PLUGIN_PATH"] {
            folders += env.split(separator: ":").map(String.init).filter { !$0.isEmpty }
        }
        return folders
    }

    /// Loads every plugin in `folder` (failures are recorded, not thrown).
    public func loadFolder(_ folder: String) {
        for file in PluginRegistry.pluginFiles(in: folder) { _ = loadRecording(file) }
    }

    /// Loads one plugin file; returns the error message on failure (also recorded).
    @discardableResult
    public func loadRecording(_ path: String) -> String? {
        do { try load(path); return nil } catch {
            failures.append((path, "\(error)"))
            return "\(error)"
        }
    }

    /// Loads one plugin file and registers its stage kinds. Throws on any load
    /// error and when a kind is already provided by another plugin (then none
    /// of this plugin's kinds is registered).
    public func load(_ path: String) throws {
        let canonical = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
        if loadedPaths.contains(canonical) { return }
        let loaded = try PluginLoader.load(canonical)
        var seen: Set<String> = []
        for d in loaded.plugin.stages {
            if let other = kinds[d.spec.kind] {
                throw MuseError("plugin \(canonical) (\(loaded.plugin.name)) declares stage kind '\(d.spec.kind)', which plugin \(other.path) (\(other.plugin.name)) already provides; remove one of them from the plugin path")
            }
            if !seen.insert(d.spec.kind).inserted {
                throw MuseError("plugin \(canonical) (\(loaded.plugin.name)) declares stage kind '\(d.spec.kind)' twice")
            }
        }
        loadedPaths.insert(canonical)
        plugins.append(loaded)
        for d in loaded.plugin.stages { kinds[d.spec.kind] = Entry(descriptor: d, plugin: loaded.plugin, path: canonical) }
    }

    public var sortedKinds: [String] { kinds.keys.sorted() }
}
