import Foundation
import MuseCore
import MuseEngine
import XCTest

/// Runs a training command again and again, killing it with SIGKILL at a random
/// moment a few logged steps after each start, until a run ends by itself. The
/// training tests compare the weights it ends with to an uninterrupted run's.
/// - Parameters:
///   - loggedSteps: steps in the run's loss log so far.
///   - stepsAhead: a kill comes 1 to `stepsAhead` logged steps after a start ...
///   - extraMilliseconds: ... plus 0 to this many milliseconds.
/// - Returns: how many times the run was killed.
public func runKilledAtRandom(executable: String, arguments: [String], loggedSteps: () -> Int, seed: UInt64,
                              stepsAhead: Int, extraMilliseconds: Int, startTimeout: TimeInterval,
                              file: StaticString = #filePath, line: UInt = #line) throws -> Int {
    var rng = SeededRNG(seed: seed)
    var kills = 0
    for _ in 0..<60 {
        let target = max(0, loggedSteps()) + 1 + rng.int(stepsAhead)
        let q = try startQuietly(executable: executable, arguments: arguments)
        let deadline = Date().addingTimeInterval(startTimeout)
        while q.isRunning && loggedSteps() < target && Date() < deadline { Thread.sleep(forTimeInterval: 0.005) }
        Thread.sleep(forTimeInterval: Double(rng.int(extraMilliseconds)) / 1000)
        if q.isRunning {
            kill(q.processIdentifier, SIGKILL)
            q.waitUntilExit()
            kills += 1
            continue
        }
        q.waitUntilExit()
        XCTAssertEqual(q.terminationStatus, 0, "the last run failed", file: file, line: line)
        return kills
    }
    XCTFail("the run never finished in 60 starts", file: file, line: line)
    return kills
}

/// Starts `executable` with its output discarded.
public func startQuietly(executable: String, arguments: [String]) throws -> Process {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: executable)
    p.arguments = arguments
    p.standardOutput = FileHandle.nullDevice
    p.standardError = FileHandle.nullDevice
    try p.run()
    return p
}

/// Every tensor of a training state file except the step and data-position records.
public func checkpointTensors(_ url: URL) throws -> [String: [Float]] {
    let r = try CheckpointReader(url)
    var d: [String: [Float]] = [:]
    for n in r.names where !n.hasPrefix("train.") && n != "optimizer.step" { d[n] = try r.floats(n) }
    return d
}
