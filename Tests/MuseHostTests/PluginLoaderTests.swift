import Foundation
import MuseCore
@testable import MuseHost
import XCTest

/// Each way a plugin can fail to load gives a clear error, and the host
/// (this test process) carries on.
final class PluginLoaderTests: XCTestCase {
    func loadError(_ path: String) -> String {
        do { _ = try PluginLoader.load(path); return "" } catch { return "\(error)" }
    }

    func testLoadsImageOps() throws {
        let r = try imageOpsRegistry()
        XCTAssertEqual(r.plugins.map(\.plugin.name), ["MuseImageOps"])
        XCTAssertNotNil(r.kinds["image.resize"])
        XCTAssertEqual(r.kinds["image.extend"]?.spec.outputs.map(\.name), ["image", "mask"])
    }

    func testMissingFile() {
        let msg = loadError("/nonexistent/libMuseNothing.so")
        XCTAssertTrue(msg.contains("/nonexistent/libMuseNothing.so") && msg.contains("file not found"), msg)
    }

    func testNotAnELFFile() throws {
        let f = temporaryFolder().appendingPathComponent("libMuseFake.so")
        try "this is not a shared library\n".write(to: f, atomically: true, encoding: .utf8)
        let msg = loadError(f.path)
        XCTAssertTrue(msg.contains("not a shared library"), msg)
    }

    func testTruncatedELFFile() throws {
        let f = temporaryFolder().appendingPathComponent("libMuseTruncated.so")
        let whole = try Data(contentsOf: URL(fileURLWithPath: Products.imageOps))
        for size in [600, whole.count / 2, whole.count - 1] {
            try whole.prefix(size).write(to: f)
            let msg = loadError(f.path)
            XCTAssertTrue(msg.contains("truncated or corrupt shared library"), msg)
        }
    }

    func testHostileELFHeaderValues() throws {
        // Header fields near 2^63 must be refused, not overflow the check itself.
        var whole = try Data(contentsOf: URL(fileURLWithPath: Products.imageOps))
        let f = temporaryFolder().appendingPathComponent("libMuseHostile.so")
        var patched = whole
        patched.replaceSubrange(32..<40, with: [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F])   // e_phoff
        try patched.write(to: f)
        XCTAssertTrue(loadError(f.path).contains("truncated or corrupt shared library"))
        // The first PT_LOAD's p_filesz near 2^63.
        let phoff = Int(whole[32]) | Int(whole[33]) << 8, phentsize = Int(whole[54]) | Int(whole[55]) << 8
        var h = phoff
        while whole[h] != 1 { h += phentsize }
        whole.replaceSubrange((h + 32)..<(h + 40), with: [0xF0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F])
        try whole.write(to: f)
        XCTAssertTrue(loadError(f.path).contains("truncated or corrupt shared library"))
    }

    func testNoEntrySymbol() throws {
        // libMuseCore.so is a real shared library, but not a plugin.
        let core = Products.path("libMuseCore.so")
        try Products.requireBuilt(core)
        let msg = loadError(core)
        XCTAssertTrue(msg.contains("not a muse plugin") && msg.contains("'muse_plugin_abi'"), msg)
    }

    func testABIMismatchSaysRebuild() throws {
        let stale = Products.path("libTestPluginStale.so")
        try Products.requireBuilt(stale)
        let msg = loadError(stale)
        XCTAssertTrue(msg.contains("built against another MuseCore interface (stale") && msg.contains("rebuild the plugin"), msg)
        XCTAssertFalse(msg.contains("toolchain ("), "same toolchain: \(msg)")
    }

    /// A plugin built before ABI strings exports only the old integer: refused.
    func testLegacyIntegerABIIsRefused() throws {
        let legacy = Products.path("libTestPluginLegacy.so")
        try Products.requireBuilt(legacy)
        let msg = loadError(legacy)
        XCTAssertTrue(msg.contains("built against an old MuseCore (plugin ABI number 1") && msg.contains("rebuild the plugin"), msg)
    }

    /// The ABI string names the toolchain and MuseCore's interface hash; either
    /// differing is refused with what differs.
    func testABIStringAndMismatchMessages() {
        let host = PluginABI.host
        XCTAssertTrue(host.hasPrefix("muse-plugin-abi/2 toolchain="), host)
        XCTAssertTrue(host.contains(" interface=\(MUSE_CORE_INTERFACE_HASH)"), host)
        XCTAssertNil(PluginABI.mismatch(plugin: host))
        let otherCompiler = "muse-plugin-abi/2 toolchain=17.0.0 (https://github.com/swiftlang/llvm-project.git 0123) interface=\(MUSE_CORE_INTERFACE_HASH)"
        let m1 = PluginABI.mismatch(plugin: otherCompiler) ?? ""
        XCTAssertTrue(m1.contains("compiled by another Swift toolchain (clang 17.0.0 (https://github.com/swiftlang/llvm-project.git 0123); this muse-run: clang "), m1)
        XCTAssertFalse(m1.contains("interface"), m1)
        let both = "muse-plugin-abi/2 toolchain=x interface=feedfacefeedface"
        let m2 = PluginABI.mismatch(plugin: both) ?? ""
        XCTAssertTrue(m2.contains("another Swift toolchain") && m2.contains("another MuseCore interface (feedfacefeedface;"), m2)
        XCTAssertTrue(PluginABI.mismatch(plugin: "garbage")?.contains("rebuild the plugin") ?? false)
    }

    func testSetupThrows() throws {
        let p = Products.path("libTestPluginThrowing.so")
        try Products.requireBuilt(p)
        let msg = loadError(p)
        XCTAssertTrue(msg.contains("setup failed") && msg.contains("resource this plugin needs is missing"), msg)
    }

    func testTwoPluginsClaimingOneKind() throws {
        let r = try imageOpsRegistry()
        let dup = Products.path("libTestPluginDuplicate.so")
        try Products.requireBuilt(dup)
        XCTAssertThrowsError(try r.load(dup)) { e in
            let msg = "\(e)"
            XCTAssertTrue(msg.contains("image.resize") && msg.contains("already provides"), msg)
        }
        // The first plugin's stage is still the one registered.
        XCTAssertEqual(r.kinds["image.resize"]?.plugin.name, "MuseImageOps")
    }

    func testFolderScanRecordsFailuresAndKeepsGoing() throws {
        let dir = temporaryFolder()
        try FileManager.default.copyItem(atPath: Products.imageOps, toPath: dir.appendingPathComponent("libMuseImageOps.so").path)
        try "garbage".write(to: dir.appendingPathComponent("libMuseBroken.so"), atomically: true, encoding: .utf8)
        try "not a plugin name".write(to: dir.appendingPathComponent("notes.txt"), atomically: true, encoding: .utf8)
        let r = PluginRegistry()
        r.loadFolder(dir.path)
        XCTAssertNotNil(r.kinds["image.resize"])
        XCTAssertEqual(r.failures.count, 1)
        XCTAssertTrue(r.failures[0].path.hasSuffix("libMuseBroken.so"))
    }

    func testLoadingTheSameFileTwiceIsHarmless() throws {
        let r = try imageOpsRegistry()
        XCTAssertNoThrow(try r.load(Products.imageOps))
        XCTAssertEqual(r.plugins.count, 1)
    }
}
