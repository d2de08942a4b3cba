import MuseCore

// A plugin whose setup throws: the host must report it and carry on.
final class ThrowingPlugin: MusePlugin {
    override func setup() throws { throw MuseError("the resource this plugin needs is missing") }
}

@_cdecl("muse_plugin_abi")
public func musePluginABI() -> UnsafePointer<CChar> { muse_abi_string() }

@_cdecl("muse_plugin_entry")
public func musePluginEntry() -> UnsafeMutableRawPointer {
    MusePlugin.export(ThrowingPlugin(name: "TestPluginThrowing", version: "0", stages: []))
}
