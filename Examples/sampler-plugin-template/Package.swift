// swift-tools-version:6.0
// A sampler plugin built outside the muse-swift package: copy this folder
// anywhere, point MUSE_CORE at muse-swift's Sources/MuseCore, `swift build`,
// and name the .so in a pipeline's `plugins:` list. See README.md beside this file.
import PackageDescription
import Foundation

// Path to muse-swift's Sources/MuseCore (the plugin contract); override with MUSE_CORE.
let museCore = ProcessInfo.processInfo.environment["MUSE_CORE"] ?? "../../Sources/MuseCore"

let package = Package(
    name: "GreedySampler",
    products: [
        // The host loads libMuse*.so files it finds; a pipeline's `plugins:` list may name any .so.
        .library(name: "MuseGreedySampler", type: .dynamic, targets: ["GreedySampler"]),
    ],
    dependencies: [.package(path: museCore)],
    targets: [
        .target(name: "GreedySampler", dependencies: [.product(name: "MuseCore", package: "MuseCore")], path: "Sources/GreedySampler"),
    ],
    swiftLanguageModes: [.v5]
)
