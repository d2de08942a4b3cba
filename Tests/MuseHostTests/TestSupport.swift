import Foundation
import MuseCore
import MuseHost
import XCTest

/// Where the build put the plugin .so files and muse-run: beside the test bundle.
enum Products {
    static let folder: String = {
        let exe = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var dir = exe.deletingLastPathComponent()
        // `swift test` runs .build/<config>/<package>PackageTests.xctest
        if dir.pathExtension == "xctest" { dir = dir.deletingLastPathComponent() }
        return dir.path
    }()
    static func path(_ name: String) -> String { (folder as NSString).appendingPathComponent(name) }
    static var imageOps: String { path("libMuseImageOps.so") }
    static var museRun: String { path("muse-run") }

    static func requireBuilt(_ file: String) throws {
        if !FileManager.default.fileExists(atPath: file) {
            XCTFail("\(file) is missing: build all products first (`swift build --build-tests`)")
            throw XCTSkip("missing \(file)")
        }
    }
}

/// A fresh temporary folder per test.
func temporaryFolder() -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("muse-tests-\(UUID().uuidString)")
    try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// A registry with MuseImageOps (and optionally more plugins) loaded.
func imageOpsRegistry(_ extra: [String] = []) throws -> PluginRegistry {
    try Products.requireBuilt(Products.imageOps)
    let r = PluginRegistry()
    try r.load(Products.imageOps)
    for e in extra { try r.load(Products.path(e)) }
    return r
}

/// A small RGB test picture: a horizontal red ramp, a vertical green ramp, blue constant.
func testPicture(width: Int = 16, height: Int = 12) -> Image {
    var p = [Float]()
    for y in 0..<height {
        for x in 0..<width { p += [Float(x) / Float(width - 1), Float(y) / Float(height - 1), 0.25] }
    }
    return Image(width: width, height: height, channels: 3, pixels: p)
}
