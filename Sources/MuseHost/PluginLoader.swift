import Foundation
import MuseCore
#if canImport(Glibc)
import Glibc
#endif

/// A plugin that loaded: its object and where it came from.
public struct LoadedPlugin {
    public let plugin: MusePlugin
    public let path: String
}

/// Loads plugin `.so` files: dlopen, ABI check, entry, cast, setup.
///
/// Every failure is a `MuseError` that names the file and says what to do;
/// nothing a plugin file contains can make the host itself crash before the
/// plugin's own code runs. Libraries are opened with RTLD_NOW | RTLD_LOCAL and
/// never closed (Swift metadata from a plugin may outlive any handle).
public enum PluginLoader {
    public static let abiSymbol = "muse_plugin_abi"
    /// What plugins built before the ABI string exported (an integer).
    public static let legacyABISymbol = "muse_plugin_abi_version"
    public static let entrySymbol = "muse_plugin_entry"

    public static func load(_ path: String) throws -> LoadedPlugin {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir), !isDir.boolValue else {
            throw MuseError("plugin \(path): file not found")
        }
        // Check the ELF headers ourselves: dlopen's message for a text file is
        // obscure, and a truncated library would crash the host (SIGBUS).
        try ELFCheck.validate(path)
        guard let handle = dlopen(path, RTLD_NOW | RTLD_LOCAL) else {
            let why = dlerror().map { String(cString: $0) } ?? "unknown error"
            throw MuseError("plugin \(path): cannot be loaded: \(why)")
        }
        // The ABI string, compiled into the plugin (muse_abi.h); read at most 4 KiB of it.
        guard let abiSym = dlsym(handle, abiSymbol) else {
            if let legacy = dlsym(handle, legacyABISymbol) {
                typealias LegacyFunction = @convention(c) () -> UInt32
                let number = unsafeBitCast(legacy, to: LegacyFunction.self)()
                throw MuseError("plugin \(path): built against an old MuseCore (plugin ABI number \(number), before ABI strings); rebuild the plugin against this MuseCore")
            }
            throw MuseError("plugin \(path): not a muse plugin (no '\(abiSymbol)' symbol)")
        }
        typealias ABIFunction = @convention(c) () -> UnsafePointer<CChar>?
        guard let abiPointer = unsafeBitCast(abiSym, to: ABIFunction.self)() else {
            throw MuseError("plugin \(path): its '\(abiSymbol)' returned nothing")
        }
        let abi = String(decoding: UnsafeRawBufferPointer(start: abiPointer, count: strnlen(abiPointer, 4096)), as: UTF8.self)
        guard PluginABI.host == PluginABI.library else {
            throw MuseError("plugin \(path): not loaded: this program was built for plugin ABI '\(PluginABI.host)' but the libMuseCore.so it runs with is '\(PluginABI.library)'; rebuild the program and libMuseCore.so together")
        }
        if let why = PluginABI.mismatch(plugin: abi) {
            throw MuseError("plugin \(path): \(why)")
        }
        guard let entrySym = dlsym(handle, entrySymbol) else {
            throw MuseError("plugin \(path): not a muse plugin (no '\(entrySymbol)' symbol)")
        }
        typealias EntryFunction = @convention(c) () -> UnsafeMutableRawPointer?
        guard let raw = unsafeBitCast(entrySym, to: EntryFunction.self)() else {
            throw MuseError("plugin \(path): its entry returned nothing")
        }
        guard let plugin = MusePlugin.adopt(raw) as? MusePlugin else {
            throw MuseError("plugin \(path): its entry did not return a MusePlugin (was it linked against a different libMuseCore.so?)")
        }
        do { try plugin.setup() } catch {
            throw MuseError("plugin \(path) (\(plugin.name)): setup failed: \(error)")
        }
        return LoadedPlugin(plugin: plugin, path: path)
    }
}
