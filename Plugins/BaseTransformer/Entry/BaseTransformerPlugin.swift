import MuseCore
import MuseBaseTransformer

// libMuseBaseTransformer.so: the base masked transformer as the
// `transformer.base` stage, which outputs a token_model for sampler stages.
// The model lives in the MuseBaseTransformer library (the folder above), which
// muse-train and muse-bench link directly. See docs/base-transformer.md.
@_cdecl("muse_plugin_abi")
public func musePluginABI() -> UnsafePointer<CChar> { muse_abi_string() }

@_cdecl("muse_plugin_entry")
public func musePluginEntry() -> UnsafeMutableRawPointer {
    MusePlugin.export(MusePlugin(name: "MuseBaseTransformer", version: "0.1.0", stages: BaseTransformerStages.all))
}
