import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Writes output files safely: only regular files, and atomically.
///
/// - The target, if it exists, must be a regular file (a symbolic link is
///   followed to what it names). A character or block device (`/dev/full`,
///   `/dev/null`), a FIFO, a socket or a directory is refused with an error:
///   renaming a new file over it would replace the device node (as root) or
///   fail obscurely.
/// - The bytes go to a temporary file in the same folder (`.<name>.tmp-XXXXXX`),
///   which is then renamed over the target, so a reader never sees half a file
///   and a failed write (disk full) leaves the old file untouched. The
///   temporary file is removed on any failure.
/// - Missing parent folders are created. A new file gets the usual mode
///   (0666 minus the umask); a replaced file keeps its mode.
public enum AtomicFile {
    /// Writes `data` to `url` (see the type's description). `what` names the
    /// kind of file in messages (`PNG`, `safetensors`).
    public static func write(_ data: Data, to url: URL, what: String = "file") throws {
        let requested = url.standardizedFileURL
        func fail(_ why: String) -> MuseError { MuseError("\(requested.path): cannot write \(what) (\(why))") }
        let dir = requested.deletingLastPathComponent()
        do { try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true) } catch {
            throw fail("cannot create the folder \(dir.path): \(error.localizedDescription)")
        }
        // Follow a symbolic link to the file it names (writing through it, as a plain
        // open would), and check what is there now.
        let target = requested.resolvingSymlinksInPath()
        var st = stat()
        var mode: mode_t
        if stat(target.path, &st) == 0 {
            let kind = st.st_mode & S_IFMT
            guard kind == S_IFREG else {
                throw fail("it exists and is \(describe(kind)), not a regular file; give the path of a file to create or replace")
            }
            mode = st.st_mode & 0o7777
        } else {
            mode = 0o666 & ~AtomicFile.currentUmask()
        }
        let targetDir = target.deletingLastPathComponent()
        var template = Array(targetDir.appendingPathComponent(".\(target.lastPathComponent).tmp-XXXXXX").path.utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else { throw fail("cannot create a temporary file in \(targetDir.path): \(String(cString: strerror(errno)))") }
        let tmpPath = String(cString: template)
        var ok = false
        defer { if !ok { unlink(tmpPath) } }
        var failure: String?
        data.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = Glibc.write(fd, raw.baseAddress!.advanced(by: offset), raw.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = String(cString: strerror(errno)); return
                }
                offset += n
            }
        }
        if failure == nil, fchmod(fd, mode) != 0 { failure = String(cString: strerror(errno)) }
        // On disk before the rename, so a crash of the machine (not only of the process)
        // leaves the old file or the new one, never an empty or truncated one.
        if failure == nil, fsync(fd) != 0 { failure = String(cString: strerror(errno)) }
        if close(fd) != 0, failure == nil { failure = String(cString: strerror(errno)) }
        if let failure { throw fail(failure) }
        guard rename(tmpPath, target.path) == 0 else { throw fail(String(cString: strerror(errno))) }
        ok = true
        // The rename itself is durable once the folder is synced (best effort).
        let dirFD = open(targetDir.path, O_RDONLY | O_DIRECTORY)
        if dirFD >= 0 { _ = fsync(dirFD); close(dirFD) }
    }

    /// The process's file-creation mask, read without changing it (`umask(2)` can only
    /// set it, which would race with other threads creating files): from
    /// `/proc/self/status` on Linux, 022 where that is unavailable.
    static func currentUmask() -> mode_t {
        if let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
           let line = text.split(separator: "\n").first(where: { $0.hasPrefix("Umask:") }),
           let v = mode_t(line.dropFirst("Umask:".count).trimmingCharacters(in: .whitespaces), radix: 8) {
            return v
        }
        return 0o022
    }

    /// Writes `text` as UTF-8 (see `write(_:to:what:)`).
    public static func write(text: String, to url: URL, what: String = "file") throws {
        try write(Data(text.utf8), to: url, what: what)
    }

    private static func describe(_ kind: mode_t) -> String {
        switch kind {
        case S_IFCHR: return "a character device"
        case S_IFBLK: return "a block device"
        case S_IFIFO: return "a FIFO"
        case S_IFSOCK: return "a socket"
        case S_IFDIR: return "a directory"
        default: return "not a regular file"
        }
    }
}
