import Foundation
import MuseCore

/// The plugin ABI string (see `muse_abi.h`): `muse-plugin-abi/2 toolchain=...
/// interface=...`, compiled into each plugin and into the host.
public enum PluginABI {
    /// This host's string, as the host's own compilation saw the header.
    public static let host = String(cString: muse_abi_string())
    /// The string the loaded libMuseCore.so was built with.
    public static let library = String(cString: muse_core_abi_string())

    /// The value of `field=` in an ABI string (up to the next ` interface=` for
    /// the toolchain, whose value contains spaces), or nil.
    static func field(_ name: String, of abi: String) -> String? {
        guard let r = abi.range(of: " \(name)=") else { return nil }
        let rest = abi[r.upperBound...]
        if name == "toolchain", let end = rest.range(of: " interface=") { return String(rest[..<end.lowerBound]) }
        return String(rest.split(separator: " ", maxSplits: 1).first ?? "")
    }

    /// Why a plugin reporting `plugin` cannot load into a host with `host`, or nil
    /// when they are the same.
    public static func mismatch(plugin: String, host: String = PluginABI.host) -> String? {
        guard plugin != host else { return nil }
        let pt = field("toolchain", of: plugin), ht = field("toolchain", of: host)
        let pi = field("interface", of: plugin), hi = field("interface", of: host)
        var why: [String] = []
        if pt != ht { why.append("it was compiled by another Swift toolchain (clang \(pt ?? "?"); this muse-run: clang \(ht ?? "?"))") }
        if pi != hi { why.append("it was built against another MuseCore interface (\(pi ?? "?"); this muse-run: \(hi ?? "?"))") }
        if why.isEmpty { why.append("its plugin ABI is '\(plugin)', this muse-run's is '\(host)'") }
        return why.joined(separator: " and ") + "; rebuild the plugin against this MuseCore with this toolchain"
    }
}
