import MuseCore

// MuseTextEncoder: the frozen pretrained text encoder, all-MiniLM-L6-v2
// (uncased WordPiece tokenizer + 6-layer, 384-wide BERT on MuseEngine), as the
// `text.encode` stage. Also a library: `TextEncoder` (encode / encode(batch:),
// with an embedding cache) and `TextEncoderBenchmark`. See docs/text-encoder.md.
@_cdecl("muse_plugin_abi")
public func musePluginABI() -> UnsafePointer<CChar> { muse_abi_string() }

@_cdecl("muse_plugin_entry")
public func musePluginEntry() -> UnsafeMutableRawPointer {
    MusePlugin.export(MusePlugin(name: "MuseTextEncoder", version: "0.1.0", stages: [
        TextEncodeStage.descriptor,
    ]))
}
