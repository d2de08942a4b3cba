import MuseCore

// A plugin that claims a stage kind MuseImageOps already provides.
final class DuplicateResize: Stage {
    func run(_ inputs: StageInputs, _ context: StageContext) throws -> [String: Value] { inputs.values }
}

@_cdecl("muse_plugin_abi_version")
public func museABIVersion() -> UInt32 { UInt32(MUSE_PLUGIN_ABI_VERSION) }

@_cdecl("muse_plugin_entry")
public func musePluginEntry() -> UnsafeMutableRawPointer {
    MusePlugin.export(MusePlugin(name: "TestPluginDuplicate", version: "0", stages: [
        StageDescriptor(StageSpec(kind: "image.resize", summary: "a second image.resize",
                                  inputs: [PortSpec("image", .image, doc: "in")],
                                  outputs: [PortSpec("image", .image, doc: "out")])) { _ in DuplicateResize() },
    ]))
}
