// swift-tools-version:6.0
// muse-swift: Muse (masked generative transformers over VQ tokens) as a pipeline
// of plugin stages. The host (muse-run) loads each stage from a `.so` plugin
// (one `.dynamic` product per folder under Plugins/) and wires them from YAML.
import PackageDescription

let core = Target.Dependency.product(name: "MuseCore", package: "MuseCore")
let engine = Target.Dependency.product(name: "MuseEngine", package: "MuseEngine")
let argumentParser = Target.Dependency.product(name: "ArgumentParser", package: "swift-argument-parser")
let crypto = Target.Dependency.product(name: "Crypto", package: "swift-crypto")
let hummingbird = Target.Dependency.product(name: "Hummingbird", package: "hummingbird")
// Extra settings of the data, benchmark, training and plugin targets. None today:
// release builds use SwiftPM's -O, which keeps preconditions (-Ounchecked, used
// before, removed them, so bad inputs went unchecked in release builds only).
let release: [SwiftSetting] = []

let package = Package(
    name: "muse-swift",
    products: [
        .executable(name: "muse-run", targets: ["muse-run"]),
        .executable(name: "muse-data", targets: ["muse-data"]),
        .executable(name: "muse-bench", targets: ["muse-bench"]),
        .executable(name: "muse-train", targets: ["muse-train"]),
        .executable(name: "muse-serve", targets: ["muse-serve"]),
        // Plugins: one shared library per stage folder. The host loads every
        // libMuse*.so it finds next to itself (libMuseCore/libMuseEngine excepted).
        .library(name: "MuseImageOps", type: .dynamic, targets: ["MuseImageOps"]),
        .library(name: "MuseTextEncoder", type: .dynamic, targets: ["MuseTextEncoder"]),
        .library(name: "MuseImageTokenizer", type: .dynamic, targets: ["MuseImageTokenizerPlugin"]),
        .library(name: "MuseBaseTransformer", type: .dynamic, targets: ["MuseBaseTransformerPlugin"]),
        .library(name: "MuseMaskGITSampler", type: .dynamic, targets: ["MuseMaskGITSamplerPlugin"]),
        .library(name: "MuseHaltonSampler", type: .dynamic, targets: ["MuseHaltonSamplerPlugin"]),
        // Deliberately broken plugins for the loader's tests (named so the host
        // never picks them up by itself).
        .library(name: "TestPluginStale", type: .dynamic, targets: ["TestPluginStale"]),
        .library(name: "TestPluginLegacy", type: .dynamic, targets: ["TestPluginLegacy"]),
        .library(name: "TestPluginThrowing", type: .dynamic, targets: ["TestPluginThrowing"]),
        .library(name: "TestPluginDuplicate", type: .dynamic, targets: ["TestPluginDuplicate"]),
        .library(name: "TestPluginWeights", type: .dynamic, targets: ["TestPluginWeights"]),
    ],
    dependencies: [
        .package(path: "Sources/MuseCore"),
        .package(path: "Sources/MuseEngine"),
        .package(url: "https://github.com/jpsim/Yams", exact: "6.2.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", exact: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto", exact: "4.5.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", exact: "2.28.1"),
    ],
    targets: [
        // Host: plugin loading, pipeline parsing/validation/execution, A/B runs.
        .target(name: "MuseHost", dependencies: [core, "Yams"], path: "Sources/MuseHost"),
        .executableTarget(name: "muse-run", dependencies: ["MuseHost", core, argumentParser], path: "Sources/muse-run"),
        // The web page over any pipeline folder (Hummingbird 2): routes, job queue, history.
        .target(name: "MuseServe", dependencies: ["MuseHost", core, crypto, hummingbird], path: "Sources/MuseServe"),
        .executableTarget(name: "muse-serve", dependencies: ["MuseServe", core, hummingbird, argumentParser], path: "Sources/muse-serve"),
        // Data sets: procedural scenes (+ scorer) and Noto Color Emoji.
        .target(name: "MuseScenes", dependencies: [core], path: "Sources/MuseScenes", swiftSettings: release),
        // Generic data sets, the training data loader and its token cache (the text
        // embedding cache it uses is MuseCore's), SHA-256 (swift-crypto).
        .target(name: "MuseData", dependencies: [core, crypto], path: "Sources/MuseData", swiftSettings: release),
        .target(name: "MuseEmoji", dependencies: ["MuseData", core], path: "Sources/MuseEmoji", swiftSettings: release),
        .executableTarget(name: "muse-data", dependencies: ["MuseScenes", "MuseEmoji", "MuseData", core, argumentParser], path: "Sources/muse-data"),
        .executableTarget(name: "muse-bench", dependencies: [core, engine, "MuseTextEncoder", "MuseImageTokenizer", "MuseBaseTransformer", "MuseMaskGITSampler", argumentParser], path: "Sources/muse-bench", swiftSettings: release),
        .executableTarget(name: "muse-train", dependencies: [core, engine, "MuseImageTokenizer", "MuseBaseTransformer", "MuseMaskGITSampler", "MuseTextEncoder", "MuseScenes", "MuseEmoji", "MuseData", "Yams", argumentParser],
                          path: "Sources/muse-train", swiftSettings: release),

        // Plugins (one folder = one stage family = one .so).
        .target(name: "MuseImageOps", dependencies: [core], path: "Plugins/ImageOps", swiftSettings: release),
        .target(name: "MuseTextEncoder", dependencies: [core, engine], path: "Plugins/TextEncoder", swiftSettings: release),
        // A plugin's C entry points live in their own small target (Entry/), so that
        // tools can link the stage library itself (muse-train, muse-bench) next to
        // other plugins' libraries without duplicate entry symbols.
        .target(name: "MuseImageTokenizer", dependencies: [core, engine], path: "Plugins/ImageTokenizer", exclude: ["Entry"], swiftSettings: release),
        .target(name: "MuseImageTokenizerPlugin", dependencies: ["MuseImageTokenizer", core], path: "Plugins/ImageTokenizer/Entry", swiftSettings: release),
        .target(name: "MuseBaseTransformer", dependencies: [core, engine], path: "Plugins/BaseTransformer", exclude: ["Entry"], swiftSettings: release),
        .target(name: "MuseBaseTransformerPlugin", dependencies: ["MuseBaseTransformer", core], path: "Plugins/BaseTransformer/Entry", swiftSettings: release),
        // Samplers link MuseCore only: they drive any token_model through its protocol.
        .target(name: "MuseMaskGITSampler", dependencies: [core], path: "Plugins/MaskGITSampler", exclude: ["Entry"], swiftSettings: release),
        .target(name: "MuseMaskGITSamplerPlugin", dependencies: ["MuseMaskGITSampler", core], path: "Plugins/MaskGITSampler/Entry", swiftSettings: release),
        .target(name: "MuseHaltonSampler", dependencies: [core], path: "Plugins/HaltonSampler", exclude: ["Entry"], swiftSettings: release),
        .target(name: "MuseHaltonSamplerPlugin", dependencies: ["MuseHaltonSampler", core], path: "Plugins/HaltonSampler/Entry", swiftSettings: release),

        .target(name: "TestPluginStale", dependencies: [core], path: "Tests/Fixtures/Plugins/StalePlugin"),
        .target(name: "TestPluginLegacy", dependencies: [core], path: "Tests/Fixtures/Plugins/LegacyPlugin"),
        .target(name: "TestPluginThrowing", dependencies: [core], path: "Tests/Fixtures/Plugins/ThrowingPlugin"),
        .target(name: "TestPluginDuplicate", dependencies: [core], path: "Tests/Fixtures/Plugins/DuplicatePlugin"),
        .target(name: "TestPluginWeights", dependencies: [core], path: "Tests/Fixtures/Plugins/WeightsPlugin"),
        // Does one invalid thing per run; the engine tests check it traps in every build configuration.
        .executableTarget(name: "TestTrapProbe", dependencies: [core, engine], path: "Tests/Fixtures/TrapProbe"),

        // Helpers the engine's and the models' test targets share (finite-difference
        // gradient checks, the killed-training-run driver).
        .target(name: "MuseTestSupport", dependencies: [core, engine], path: "Tests/Support"),
        .testTarget(name: "MuseCoreTests", dependencies: [core], path: "Tests/MuseCoreTests"),
        .testTarget(name: "MuseHostTests", dependencies: ["MuseHost", core], path: "Tests/MuseHostTests"),
        .testTarget(name: "MuseServeTests", dependencies: ["MuseServe", "MuseHost", core, hummingbird,
                                                            .product(name: "HummingbirdTesting", package: "hummingbird")],
                    path: "Tests/MuseServeTests"),
        .testTarget(name: "MuseEngineTests", dependencies: [core, engine, "MuseTestSupport"], path: "Tests/MuseEngineTests"),
        .testTarget(name: "MuseDataTests", dependencies: ["MuseScenes", "MuseEmoji", "MuseData", core], path: "Tests/MuseDataTests"),
        .testTarget(name: "BaseTransformerTests", dependencies: ["MuseBaseTransformer", "MuseImageTokenizer", core, engine, "MuseTestSupport"], path: "Tests/BaseTransformerTests"),
        .testTarget(name: "SamplerTests", dependencies: ["MuseMaskGITSampler", "MuseHaltonSampler", core], path: "Tests/SamplerTests"),
        .testTarget(name: "ImageTokenizerTests", dependencies: ["MuseImageTokenizer", core, engine, "MuseTestSupport"], path: "Tests/ImageTokenizerTests"),
        .testTarget(name: "TextEncoderTests", dependencies: ["MuseTextEncoder", core, engine], path: "Tests/TextEncoderTests",
                    exclude: ["Fixtures"]),
    ],
    swiftLanguageModes: [.v5]
)
