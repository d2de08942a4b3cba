import Foundation
import MuseCore

// A plugin that reports another MuseCore interface hash, as one built before an
// interface change would: the host must refuse it before touching its entry.
private let staleABI: UnsafeMutablePointer<CChar> = {
    let own = String(cString: muse_abi_string())
    let stale = own.replacingOccurrences(of: " interface=", with: " interface=stale")
    return strdup(stale)!
}()

@_cdecl("muse_plugin_abi")
public func musePluginABI() -> UnsafePointer<CChar> { UnsafePointer(staleABI) }

@_cdecl("muse_plugin_entry")
public func musePluginEntry() -> UnsafeMutableRawPointer {
    fatalError("the host must never call the entry of a plugin with another ABI")
}
