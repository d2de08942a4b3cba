import MuseCore
import MuseHaltonSampler

// libMuseHaltonSampler.so: `sampler.halton`, a sampler with a fixed spatial
// (Halton) order. Links only MuseCore, like every sampler.
@_cdecl("muse_plugin_abi")
public func musePluginABI() -> UnsafePointer<CChar> { muse_abi_string() }

@_cdecl("muse_plugin_entry")
public func musePluginEntry() -> UnsafeMutableRawPointer {
    MusePlugin.export(MusePlugin(name: "MuseHaltonSampler", version: "0.1.0", stages: HaltonSamplerStages.all))
}
