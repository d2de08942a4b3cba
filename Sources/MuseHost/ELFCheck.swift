import Foundation
import MuseCore

/// Checks that a file is a complete 64-bit little-endian ELF shared object
/// for this machine BEFORE it is handed to dlopen: the dynamic loader maps the
/// segments the header promises, and touching a segment past the end of a
/// truncated file kills the process with SIGBUS, so a truncated plugin must be
/// refused here.
enum ELFCheck {
    static func validate(_ path: String) throws {
        guard let data = try? Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped) else {
            throw MuseError("plugin \(path): cannot read the file")
        }
        let size = data.count
        func u16(_ o: Int) -> Int { Int(data[o]) | Int(data[o + 1]) << 8 }
        func u32(_ o: Int) -> Int { u16(o) | u16(o + 2) << 16 }
        // 64-bit fields read as Int; values >= 2^63 come out negative and fail `fits`.
        func u64(_ o: Int) -> Int { Int(truncatingIfNeeded: UInt64(u32(o)) | UInt64(u32(o + 4)) << 32) }
        guard size >= 64, data.prefix(4) == Data([0x7F, 0x45, 0x4C, 0x46]) else {
            throw MuseError("plugin \(path): not a shared library (no ELF header); a plugin is a .so built from Plugins/")
        }
        guard data[4] == 2, data[5] == 1 else { throw MuseError("plugin \(path): not a 64-bit little-endian ELF file") }
        guard u16(16) == 3 else { throw MuseError("plugin \(path): an ELF file but not a shared library (type \(u16(16)))") }
        #if arch(x86_64)
        guard u16(18) == 62 else { throw MuseError("plugin \(path): built for another CPU architecture (ELF machine \(u16(18)))") }
        #elseif arch(arm64)
        guard u16(18) == 183 else { throw MuseError("plugin \(path): built for another CPU architecture (ELF machine \(u16(18)))") }
        #endif
        let phoff = u64(32), shoff = u64(40), phentsize = u16(54), phnum = u16(56), shentsize = u16(58), shnum = u16(60)
        let truncated = MuseError("plugin \(path): truncated or corrupt shared library (\(size) bytes); rebuild or reinstall it")
        // Compare by subtraction: header values are untrusted and sums of them could overflow.
        func fits(_ offset: Int, _ length: Int) -> Bool { offset >= 0 && length >= 0 && offset <= size && length <= size - offset }
        guard phentsize >= 56, fits(phoff, phnum * phentsize), fits(shoff, shnum * shentsize) else { throw truncated }
        for i in 0..<phnum {
            let h = phoff + i * phentsize
            guard u32(h) == 1 else { continue }   // PT_LOAD
            guard fits(u64(h + 8), u64(h + 32)) else { throw truncated }   // p_offset, p_filesz
        }
    }
}
