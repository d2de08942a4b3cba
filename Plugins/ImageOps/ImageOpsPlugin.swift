import MuseCore

// MuseImageOps: stages that need no model — load, save, resize, crop,
// extend canvas, masks, composite, labelled grids. Editing pipelines and A/B
// runs are built from these.

@_cdecl("muse_plugin_abi")
public func musePluginABI() -> UnsafePointer<CChar> { muse_abi_string() }

@_cdecl("muse_plugin_entry")
public func musePluginEntry() -> UnsafeMutableRawPointer {
    MusePlugin.export(MusePlugin(name: "MuseImageOps", version: "1.0.0", stages: [
        LoadImageStage.descriptor,
        SaveImageStage.descriptor,
        ResizeStage.descriptor,
        CropStage.descriptor,
        ExtendCanvasStage.descriptor,
        RectMaskStage.descriptor,
        LoadMaskStage.descriptor,
        CompositeStage.descriptor,
        GridStage.descriptor,
    ]))
}
