import XCTest
import Foundation

/// Checks on malformed values must fire in release builds too (they once built
/// with `-Ounchecked`, which removed them). Each case runs `TestTrapProbe`, a
/// small executable built beside the tests in the same configuration as them
/// and the libraries, and expects it to die of a trap; under
/// `swift test -c release` this checks the release libraries.
final class ReleaseChecksTests: XCTestCase {
    /// The probe next to the test bundle (`.build/<config>/TestTrapProbe`).
    static let probe: String = {
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        if dir.pathExtension == "xctest" { dir = dir.deletingLastPathComponent() }
        return dir.appendingPathComponent("TestTrapProbe").path
    }()

    #if DEBUG
    static let configuration = "debug"
    #else
    static let configuration = "release"
    #endif

    struct Outcome { let signal: Int32?; let status: Int32; let stdout: String; let stderr: String }

    func runProbe(_ which: String) throws -> Outcome {
        guard FileManager.default.isExecutableFile(atPath: Self.probe) else {
            XCTFail("\(Self.probe) is missing: build all products first (`swift build --build-tests`)")
            throw XCTSkip("no probe")
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Self.probe)
        p.arguments = [which]
        // No crash backtrace (it takes seconds to symbolicate and is not what is checked).
        p.environment = ProcessInfo.processInfo.environment.merging(["SWIFT_BACKTRACE": "enable=no"]) { $1 }
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let signal = p.terminationReason == .uncaughtSignal ? p.terminationStatus : nil
        return Outcome(signal: signal, status: p.terminationStatus,
                       stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
    }

    /// The probe was built in the tests' configuration, and its control case exits normally.
    func testProbeMatchesTheTestConfiguration() throws {
        let r = try runProbe("none")
        XCTAssertNil(r.signal, r.stderr)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("configuration: \(Self.configuration)"), r.stdout)
        XCTAssertTrue(r.stdout.contains("ok"), r.stdout)
    }

    /// `Image(width: 4, height: 4, pixels: [0.5])` traps (MuseCore's precondition).
    func testImageWithTooFewPixelsTraps() throws {
        let r = try runProbe("image")
        XCTAssertTrue(r.signal == SIGILL || r.signal == SIGTRAP, "status \(r.status), signal \(String(describing: r.signal)): \(r.stdout)")
        XCTAssertFalse(r.stdout.contains("survived"), r.stdout)
    }

    /// `Tensor(shape: [64, 64], data: [1, 2, 3])` traps, naming the problem.
    func testTensorWithTooFewValuesTraps() throws {
        let r = try runProbe("tensor")
        XCTAssertTrue(r.signal == SIGILL || r.signal == SIGTRAP, "status \(r.status), signal \(String(describing: r.signal)): \(r.stdout)")
        XCTAssertFalse(r.stdout.contains("survived"), r.stdout)
        XCTAssertTrue(r.stderr.contains("MuseEngine: Tensor: 3 values do not fill shape [64, 64]"), r.stderr)
    }

    /// The engine's `require` in a hot op (a wrong input width) stops with its message.
    func testLayerShapeCheckTraps() throws {
        let r = try runProbe("linear")
        XCTAssertTrue(r.signal == SIGILL || r.signal == SIGTRAP, "status \(r.status), signal \(String(describing: r.signal)): \(r.stdout)")
        XCTAssertFalse(r.stdout.contains("survived"), r.stdout)
        XCTAssertTrue(r.stderr.contains("Linear.forward: input shape [3, 5] has last dimension 5, expected 4"), r.stderr)
    }
}
