import Foundation
@_exported import CMuseABI

/// A stage kind a plugin provides: its declaration plus a factory.
public struct StageDescriptor {
    public let spec: StageSpec
    public let make: (StageConfig) throws -> Stage
    public init(_ spec: StageSpec, make: @escaping (StageConfig) throws -> Stage) {
        self.spec = spec; self.make = make
    }
}

/// What a plugin `.so` registers with the host.
///
/// A plugin exports two C symbols (write them exactly like this; see
/// docs/writing-a-plugin.md):
///
///     @_cdecl("muse_plugin_abi")
///     public func musePluginABI() -> UnsafePointer<CChar> { muse_abi_string() }
///
///     @_cdecl("muse_plugin_entry")
///     public func musePluginEntry() -> UnsafeMutableRawPointer {
///         MusePlugin.export(MyPlugin())
///     }
///
/// `muse_abi_string()` is a `static inline` C function from MuseCore's header
/// `muse_abi.h`: the string it returns (the Swift toolchain and a hash of
/// MuseCore's interface) is compiled into the plugin, so a plugin built with
/// another compiler or against another MuseCore reports its own string and the
/// host refuses it before any Swift object crosses the boundary.
open class MusePlugin {
    /// Plugin name, e.g. `MuseImageOps`.
    public let name: String
    public let version: String
    public let stages: [StageDescriptor]

    public init(name: String, version: String, stages: [StageDescriptor]) {
        self.name = name; self.version = version; self.stages = stages
    }

    /// Called once by the host after loading; throw to refuse to load (for
    /// example when a resource the plugin needs is missing).
    open func setup() throws {}

    /// Hands a plugin object to the host as an opaque retained pointer.
    public static func export(_ plugin: MusePlugin) -> UnsafeMutableRawPointer {
        Unmanaged.passRetained(plugin).toOpaque()
    }

    /// The host side of `export`.
    public static func adopt(_ pointer: UnsafeMutableRawPointer) -> AnyObject {
        Unmanaged<AnyObject>.fromOpaque(pointer).takeRetainedValue()
    }
}
