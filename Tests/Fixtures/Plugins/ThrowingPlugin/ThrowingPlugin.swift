import MuseCore

// A plugin whose setup throws: the host must report it and carry on.
final class ThrowingPlugin: MusePlugin {
    override func setup() throws { throw MuseError("the resource this plugin needs is missing") }
}

@_cdecl("muse_plugin_abi_version")
public func museABIVersion() -> UInt32 { UInt32(MUSE_PLUGIN_ABI_VERSION) }

@_cdecl("muse_plugin_entry")
public func musePluginEntry() -> UnsafeMutableRawPointer {
    MusePlugin.export(ThrowingPlugin(name: "TestPluginThrowing", version: "0", stages: []))
}
