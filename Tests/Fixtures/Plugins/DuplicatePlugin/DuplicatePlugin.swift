import MuseCore

// A plugin that claims a stage kind MuseImageOps already provides.
final class DuplicateResize: Stage {
    func run(_ inputs: StageInputs, _ context: StageContext) throws -> [String: Value] { inputs.values }
}

@_cdecl("muse_plugin_abi")
public func musePluginABI() -> UnsafePointer<CChar> { muse_abi_string() }

@_cdecl("muse_plugin_entry")
public func musePluginEntry() -> UnsafeMutableRawPointer {
    MusePlugin.export(MusePlugin(name: "TestPluginDuplicate", version: "0", stages: [
        StageDescriptor(StageSpec(kind: "image.resize", summary: "a second image.resize",
                                  inputs: [PortSpec("image", .image, doc: "in")],
                                  outputs: [PortSpec("image", .image, doc: "out")])) { _ in DuplicateResize() },
    ]))
}
