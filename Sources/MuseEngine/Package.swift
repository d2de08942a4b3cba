// swift-tools-version:6.0
// MuseEngine: the tensor and neural-network engine (forward/backward ops,
// layers, optimizers, checkpoints, compute backends). Its own package so it is
// ONE shared library (libMuseEngine.so) that every model plugin links, on top
// of the one libMuseCore.so.
import PackageDescription

let package = Package(
    name: "MuseEngine",
    products: [
        .library(name: "MuseEngine", type: .dynamic, targets: ["MuseEngine"]),
    ],
    dependencies: [
        .package(path: "../MuseCore"),
    ],
    targets: [
        .systemLibrary(name: "CBLAS", path: "Sources/CBLAS"),
        // oneDNN (Debian libdnnl-dev) for the bf16 backend.
        .systemLibrary(name: "CDNNL", path: "Sources/CDNNL"),
        // Vectorized elementwise kernels (exp, GELU, SiLU, softmax helpers) with
        // runtime CPU dispatch; plain C so clang auto-vectorizes them.
        .target(name: "CMuseKernels", path: "Sources/CMuseKernels", cSettings: [.unsafeFlags(["-O3"])]),
        .target(
            name: "MuseEngine",
            dependencies: ["CBLAS", "CDNNL", "CMuseKernels", .product(name: "MuseCore", package: "MuseCore")],
            path: "Sources/MuseEngine"
            // Release builds use SwiftPM's -O, which keeps preconditions and the
            // engine's `require` checks (shapes passed between layers).
        ),
    ],
    swiftLanguageModes: [.v5]
)
