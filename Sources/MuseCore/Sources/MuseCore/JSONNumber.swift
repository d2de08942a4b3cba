import Foundation

/// Numbers in what `JSONSerialization` returns, with JSON `true`/`false`
/// refused: Foundation hands those over as NSNumbers too, of type "c" (char).
public enum JSONNumber {
    /// `v` as a number, or nil when it is anything else (booleans included).
    public static func number(_ v: Any) -> NSNumber? {
        guard let n = v as? NSNumber, String(cString: n.objCType) != "c" else { return nil }
        return n
    }

    /// `v` as a whole number of magnitude at most 2^62 (so sizes built from it
    /// can be checked for overflow), or nil (not a number, 2.5, true, 1e30).
    public static func integer(_ v: Any) -> Int? {
        guard let n = number(v), let d = Double(exactly: n.doubleValue), d == d.rounded(), abs(d) <= 0x1p62 else { return nil }
        return Int(d)
    }
}
