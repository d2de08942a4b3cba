// swift-tools-version:6.0
// MuseCore: the contract every plugin builds on (stage protocol, values, I/O,
// drawing). It is its own package so that SwiftPM builds it as ONE shared
// library (libMuseCore.so) that the host and every plugin link; a plain target
// would be linked statically into each product and `as?` casts across the
// plugin boundary would fail (see DESIGN.md).
import PackageDescription

let package = Package(
    name: "MuseCore",
    products: [
        .library(name: "MuseCore", type: .dynamic, targets: ["MuseCore"]),
    ],
    targets: [
        .systemLibrary(name: "CPNG", path: "Sources/CPNG"),
        // The plugin ABI string (include/muse_abi.h). A C target, not a system
        // library: SwiftPM then rebuilds the modules that import it when it changes.
        .target(name: "CMuseABI", path: "Sources/CMuseABI"),
        .target(
            name: "MuseCore",
            dependencies: ["CPNG", "CMuseABI"],
            path: "Sources/MuseCore"
            // Release builds use SwiftPM's -O, which keeps preconditions: a
            // malformed Image or safetensors header must trap or throw there too.
        ),
    ],
    swiftLanguageModes: [.v5]
)
