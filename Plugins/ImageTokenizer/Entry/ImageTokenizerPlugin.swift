import MuseCore
import MuseImageTokenizer

// libMuseImageTokenizer.so: image tokenizers (fully convolutional VQ
// autoencoders with a swappable quantizer: FSQ or an l2-normalised codebook) as
// the `tokenizer.encode` and `tokenizer.decode` stages. The model and stages
// live in the MuseImageTokenizer library (the folder above), which muse-train
// and muse-bench link directly. See docs/tokenizer.md.
@_cdecl("muse_plugin_abi")
public func musePluginABI() -> UnsafePointer<CChar> { muse_abi_string() }

@_cdecl("muse_plugin_entry")
public func musePluginEntry() -> UnsafeMutableRawPointer {
    MusePlugin.export(MusePlugin(name: "MuseImageTokenizer", version: "0.1.0", stages: ImageTokenizerStages.all))
}
