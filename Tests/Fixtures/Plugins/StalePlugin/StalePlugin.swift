import MuseCore

// A plugin that reports another ABI version, as one built against an older
// MuseCore would: the host must refuse it before touching its entry.
@_cdecl("muse_plugin_abi_version")
public func museABIVersion() -> UInt32 { UInt32(MUSE_PLUGIN_ABI_VERSION) + 1000 }

@_cdecl("muse_plugin_entry")
public func musePluginEntry() -> UnsafeMutableRawPointer {
    fatalError("the host must never call the entry of a plugin with another ABI")
}
