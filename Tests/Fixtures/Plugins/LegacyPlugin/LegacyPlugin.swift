import MuseCore

// A plugin as built before the plugin ABI string: it exports only the old
// integer version. The host must refuse it before touching its entry.
@_cdecl("muse_plugin_abi_version")
public func museABIVersion() -> UInt32 { UInt32(MUSE_LEGACY_PLUGIN_ABI_VERSION) }

@_cdecl("muse_plugin_entry")
public func musePluginEntry() -> UnsafeMutableRawPointer {
    fatalError("the host must never call the entry of a plugin with another ABI")
}
