import Foundation
import Hummingbird
import HummingbirdTesting
import MuseCore
@testable import MuseServe
import XCTest

/// A bounded load on loopback: a real server (Hummingbird's `.ahc` test mode: a
/// live server and a multi-connection HTTP client), 50 submissions at once.
final class ServeLoadTests: XCTestCase {
    func testFiftyConcurrentSubmissions() async throws {
        let fixture = try ServeFixture(queueCapacity: 4)
        let app = try fixture.app()
        let picture = dataURL(try testPicture()), mask = dataURL(try testMask())
        let rssBefore = residentBytes()
        try await app.application(host: "127.0.0.1", port: 0).test(.ahc(.http)) { client in
            // 50 submissions at once (slow runs and runs with uploads) ...
            let outcomes = try await withThrowingTaskGroup(of: (HTTPResponse.Status, String?).self) { group in
                for k in 0..<50 {
                    group.addTask {
                        let body: [String: Any] = k % 2 == 0
                            ? ["pipeline": "slow", "seed": k]
                            : ["pipeline": "pixelate", "inputs": ["image": picture, "mask": mask], "seed": k]
                        let r = try await client.submit(body)
                        return (r.status, r.status == .accepted ? try decode(JobStatus.self, r).id : errorMessage(r))
                    }
                }
                // ... while the form and the job list keep being asked for.
                for _ in 0..<10 {
                    group.addTask {
                        let r = try await client.execute(uri: "/api/pipelines", method: .get)
                        return (r.status, "page")
                    }
                }
                var answered: [(HTTPResponse.Status, String?)] = []
                for try await o in group { answered.append(o) }
                let pages = answered.filter { $0.1 == "page" }
                XCTAssertEqual(pages.map(\.0), Array(repeating: .ok, count: 10), "the server keeps answering under load")
                return answered.filter { $0.1 != "page" }
            }
            for _ in 0..<5 {
                let got1 = try await client.execute(uri: "/api/pipelines", method: .get).status
                XCTAssertEqual(got1, .ok, "the server keeps answering")
            }
            // None lost: every submission was queued or refused with the busy message.
            XCTAssertEqual(outcomes.count, 50)
            let accepted = outcomes.filter { $0.0 == .accepted }.compactMap(\.1)
            let refused = outcomes.filter { $0.0 == .serviceUnavailable }
            XCTAssertEqual(accepted.count + refused.count, 50, "\(outcomes.map(\.0))")
            XCTAssertGreaterThanOrEqual(accepted.count, 1)
            XCTAssertLessThanOrEqual(app.queue.mostWaiting, 4, "never more than the queue's 4 waiting")
            XCTAssertTrue(refused.allSatisfy { $0.1?.contains("busy") ?? false })
            // Every queued run finishes, and the queue drains.
            for id in accepted {
                let got2 = try await client.waitForJob(id).state
                XCTAssertEqual(got2, .done)
            }
            XCTAssertEqual(app.queue.waiting, 0)
            let later = try await client.submit(["pipeline": "slow"])
            XCTAssertEqual(later.status, .accepted, "the queue takes runs again")
            let got3 = try await client.waitForJob(try decode(JobStatus.self, later).id).state
            XCTAssertEqual(got3, .done)
        }
        // Memory stays bounded: the refused bodies and the finished jobs are not kept.
        let grown = residentBytes() - rssBefore
        XCTAssertLessThan(grown, 200 << 20, "resident memory grew by \(grown >> 20) MiB")
    }

    /// Resident memory of this process (VmRSS), in bytes.
    func residentBytes() -> Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }) else { return 0 }
        return (Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0) * 1024
    }
}
