import Foundation

/// A one-line progress counter on stderr (rewritten in place on a terminal, every 10% otherwise).
struct Progress {
    let label: String
    let total: Int
    let tty = isatty(2) != 0
    var lastShown = -1
    init(_ label: String, total: Int) { self.label = label; self.total = total }

    mutating func update(_ done: Int) {
        guard total > 0 else { return }
        let pct = done * 100 / total
        if tty {
            if pct != lastShown || done == total {
                FileHandle.standardError.write(Data("\r\(label): \(done)/\(total) (\(pct)%)\(done == total ? "\n" : "")".utf8))
            }
        } else if pct / 10 != lastShown / 10 || done == total {
            FileHandle.standardError.write(Data("\(label): \(done)/\(total) (\(pct)%)\n".utf8))
        }
        lastShown = pct
    }
}

func note(_ s: String) { FileHandle.standardError.write(Data((s + "\n").utf8)) }
