import MuseCore
import MuseMaskGITSampler

// libMuseMaskGITSampler.so: the reference sampler `sampler.maskgit`. It links
// only MuseCore: it drives any token_model through MuseCore's TokenModel
// protocol. The sampler lives in the library of the folder above (tests link
// it directly). See docs/writing-a-sampler.md.
@_cdecl("muse_plugin_abi")
public func musePluginABI() -> UnsafePointer<CChar> { muse_abi_string() }

@_cdecl("muse_plugin_entry")
public func musePluginEntry() -> UnsafeMutableRawPointer {
    MusePlugin.export(MusePlugin(name: "MuseMaskGITSampler", version: "0.1.0", stages: MaskGITSamplerStages.all))
}
