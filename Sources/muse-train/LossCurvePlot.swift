import Foundation
import MuseCore

/// Draws series of (x, y) points as a line chart PNG: log-scale or linear y axis,
/// axis labels in the bitmap font. Used for the loss curves every training run writes.
struct LossCurvePlot {
    struct Series { var name: String; var points: [(Double, Double)]; var colour: [Float] }
    var title: String
    var xLabel: String
    var logY: Bool
    var series: [Series]

    func render(width: Int = 720, height: Int = 420) -> Image {
        var img = Image(width: width, height: height, fill: [1, 1, 1])
        let left = 64, right = width - 16, top = 28, bottom = height - 40
        img.drawText(title, x: left, y: 8)
        let pts = series.flatMap { $0.points }.filter { $0.1.isFinite && (!logY || $0.1 > 0) }
        guard let x0 = pts.map({ $0.0 }).min(), let x1 = pts.map({ $0.0 }).max(),
              let yMin = pts.map({ $0.1 }).min(), let yMax = pts.map({ $0.1 }).max() else {
            img.drawText("no data yet", x: left, y: top + 20)
            return img
        }
        func ty(_ y: Double) -> Double { logY ? log10(y) : y }
        var lo = ty(yMin), hi = ty(yMax)
        if hi - lo < 1e-9 { lo -= 0.5; hi += 0.5 }
        let xr = max(x1 - x0, 1e-9)
        func px(_ x: Double) -> Int { left + Int(Double(right - left) * (x - x0) / xr) }
        func py(_ y: Double) -> Int { bottom - Int(Double(bottom - top) * (ty(y) - lo) / (hi - lo)) }
        // Axes and ticks.
        for x in left...right { img.set(x, bottom, [0, 0, 0]) }
        for y in top...bottom { img.set(left, y, [0, 0, 0]) }
        for k in 0...4 {
            let v = lo + (hi - lo) * Double(k) / 4
            let y = bottom - (bottom - top) * k / 4
            for x in (left - 3)...left { img.set(x, y, [0, 0, 0]) }
            img.drawText(LossCurvePlot.format(logY ? pow(10, v) : v), x: 2, y: y - 4)
            let xv = x0 + xr * Double(k) / 4
            let xx = left + (right - left) * k / 4
            for y2 in bottom...(bottom + 3) { img.set(xx, y2, [0, 0, 0]) }
            img.drawText(LossCurvePlot.format(xv), x: max(0, xx - 12), y: bottom + 8)
        }
        img.drawText(xLabel, x: (left + right) / 2 - BitmapFont.width(of: xLabel) / 2, y: bottom + 22)
        for (i, s) in series.enumerated() {
            img.drawText(s.name, x: right - BitmapFont.width(of: s.name) - 4, y: top + 4 + i * 12, color: s.colour)
            var prev: (Int, Int)?
            for (x, y) in s.points where y.isFinite && (!logY || y > 0) {
                let p = (px(x), py(y))
                if let q = prev { img.line(q, p, s.colour) } else { img.set(p.0, p.1, s.colour) }
                prev = p
            }
        }
        return img
    }

    static func format(_ v: Double) -> String {
        let a = abs(v)
        if a >= 1e6 { return String(format: "%.1fM", v / 1e6) }
        if a >= 1e4 { return String(format: "%.0fk", v / 1e3) }
        if a >= 100 || (a >= 1 && v == v.rounded()) { return String(format: "%.0f", v) }
        if a >= 1 { return String(format: "%.2f", v) }
        if a == 0 { return "0" }
        return String(format: "%.1e", v)
    }
}

extension Image {
    /// Sets one RGB pixel (ignored outside the image).
    mutating func set(_ x: Int, _ y: Int, _ c: [Float]) {
        guard x >= 0, y >= 0, x < width, y < height else { return }
        let i = index(x, y)
        for k in 0..<3 { pixels[i + k] = c[k] }
    }

    /// A straight line between two pixels (Bresenham).
    mutating func line(_ a: (Int, Int), _ b: (Int, Int), _ c: [Float]) {
        var x = a.0, y = a.1
        let dx = abs(b.0 - a.0), dy = -abs(b.1 - a.1), sx = a.0 < b.0 ? 1 : -1, sy = a.1 < b.1 ? 1 : -1
        var err = dx + dy
        while true {
            set(x, y, c)
            if x == b.0 && y == b.1 { break }
            let e2 = 2 * err
            if e2 >= dy { err += dy; x += sx }
            if e2 <= dx { err += dx; y += sy }
        }
    }
}
