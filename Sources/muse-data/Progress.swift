import Foundation

// Progress lines come from MuseCore's `TerminalProgress` (one reporter for every tool).

func note(_ s: String) { FileHandle.standardError.write(Data((s + "\n").utf8)) }
