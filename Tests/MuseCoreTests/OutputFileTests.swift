import Foundation
import MuseCore
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// Output files (issue 16): only regular files are written, through a temporary
/// file and a rename; image sizes are limited before anything is allocated.
final class OutputFileTests: XCTestCase {
    var dir: URL!
    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("muse-out-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    let picture = Image(width: 2, height: 1, channels: 3, pixels: [1, 0, 0, 0, 1, 0])

    func kind(_ path: String) -> mode_t {
        var st = stat()
        return lstat(path, &st) == 0 ? st.st_mode & S_IFMT : 0
    }

    func expectRefused(_ url: URL, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        let before = kind(url.path)
        XCTAssertThrowsError(try PNGCodec.write(picture, to: url), file: file, line: line) { e in
            XCTAssertTrue("\(e)".contains("\(url.path): cannot write PNG (it exists and is \(what), not a regular file"), "\(e)",
                          file: file, line: line)
        }
        XCTAssertEqual(kind(url.path), before, "the node is left as it was", file: file, line: line)
        XCTAssertThrowsError(try SafeTensorsWriter().write(to: url), file: file, line: line)
        let leftovers = (try? FileManager.default.contentsOfDirectory(atPath: url.deletingLastPathComponent().path)) ?? []
        XCTAssertFalse(leftovers.contains { $0.contains(".tmp-") }, "no temporary file left: \(leftovers)", file: file, line: line)
    }

    /// The mutation input: `image.save` to `/dev/full` as root replaced the device
    /// node with a PNG. Reproduced on a character device node made in a temporary
    /// folder (the same device numbers as /dev/full, 1:7), never on /dev itself;
    /// FIFOs and directories are refused the same way.
    func testDevicesFIFOsAndDirectoriesAreRefused() throws {
        let fifo = dir.appendingPathComponent("fifo.png")
        XCTAssertEqual(mkfifo(fifo.path, 0o644), 0)
        expectRefused(fifo, "a FIFO")
        let folder = dir.appendingPathComponent("folder.png")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        expectRefused(folder, "a directory")
        // A symbolic link to a FIFO is followed and refused too.
        let link = dir.appendingPathComponent("link.png")
        try FileManager.default.createSymbolicLink(at: link, withDestinationURL: fifo)
        expectRefused(link, "a FIFO")
        let full = dir.appendingPathComponent("full")
        if mknod(full.path, S_IFCHR | 0o666, dev_t(1 << 8 | 7)) == 0 {
            expectRefused(full, "a character device")
        } else {
            // Without CAP_MKNOD: at least check that /dev/full is seen as a device (read-only check).
            XCTAssertEqual(kind("/dev/full"), S_IFCHR)
        }
    }

    func testRegularFilesAreReplacedAtomicallyKeepingTheirMode() throws {
        let url = dir.appendingPathComponent("sub/dir/out.png")
        try PNGCodec.write(picture, to: url)
        XCTAssertEqual(try PNGCodec.read(url), picture)
        XCTAssertEqual(chmod(url.path, 0o640), 0)
        try PNGCodec.write(Image(width: 1, height: 1, channels: 3, pixels: [0, 0, 1]), to: url)
        XCTAssertEqual(try PNGCodec.read(url).width, 1)
        var st = stat()
        XCTAssertEqual(stat(url.path, &st), 0)
        XCTAssertEqual(st.st_mode & 0o777, 0o640)
        // Through a symbolic link: the file it names is replaced, the link stays.
        let link = dir.appendingPathComponent("link.png")
        try FileManager.default.createSymbolicLink(at: link, withDestinationURL: url)
        try PNGCodec.write(picture, to: link)
        XCTAssertEqual(kind(link.path), S_IFLNK)
        XCTAssertEqual(try PNGCodec.read(url), picture)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: url.deletingLastPathComponent().path), ["out.png"])
        // A parent that is a file cannot be a folder.
        XCTAssertThrowsError(try AtomicFile.write(text: "x", to: url.appendingPathComponent("child.txt"))) { e in
            XCTAssertTrue("\(e)".contains("cannot create the folder"), "\(e)")
        }
    }

    /// Resizing or extending to 16384 px per side, or 8192 px of extension on
    /// every side, ran for more than 20 s: sizes past the limits are refused
    /// before anything is allocated.
    func testImageLimits() throws {
        XCTAssertNoThrow(try ImageLimits.check(width: 8192, height: 8192, what: "x"))
        XCTAssertNoThrow(try ImageLimits.check(width: 16384, height: 16, what: "x"))
        XCTAssertThrowsError(try ImageLimits.check(width: 16384, height: 16384, what: "the resized image")) { e in
            XCTAssertTrue("\(e)".contains("the resized image would be 16384x16384 = 268435456 pixels (4096 MiB as RGBA floats); the limit is 67108864 pixels"), "\(e)")
        }
        XCTAssertThrowsError(try ImageLimits.check(width: 16 + 16384, height: 12 + 16384, what: "the canvas")) { e in
            XCTAssertTrue("\(e)".contains("16400x16396 pixels; the limit is 16384 pixels per side"), "\(e)")
        }
        XCTAssertThrowsError(try ImageLimits.check(width: 0, height: 5, what: "x"))
        XCTAssertThrowsError(try ImageLimits.check(width: Int.max, height: Int.max, what: "x"))
        XCTAssertEqual(PNGCodec.maxPixels, ImageLimits.maxPixels)
    }
}
