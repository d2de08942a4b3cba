import Foundation

/// Exact shape geometry (SCENES.md "Objects"): inside tests and areas for a shape
/// inscribed in the box with top-left (x, y) and side s, in any pixel units.
public struct ShapeGeometry: Sendable {
    public let shape: SceneShape
    public let x: Double, y: Double, side: Double
    /// Star outline: 10 vertices, alternating outer (radius s/2) and inner
    /// (radius 0.45 x outer), the first outer one straight up.
    public let starVertices: [(Double, Double)]

    /// Inner radius of the star as a fraction of its outer radius.
    public static let starInnerRatio = 0.45

    public init(shape: SceneShape, x: Double, y: Double, side: Double) {
        self.shape = shape; self.x = x; self.y = y; self.side = side
        if shape == .star {
            let cx = x + side / 2, cy = y + side / 2, r = side / 2
            starVertices = (0..<10).map { k in
                let a = -Double.pi / 2 + Double(k) * Double.pi / 5
                let rr = k % 2 == 0 ? r : r * ShapeGeometry.starInnerRatio
                return (cx + rr * cos(a), cy + rr * sin(a))
            }
        } else {
            starVertices = []
        }
    }

    /// Whether the point (px, py) lies inside the shape (boundary counts as inside for the box and disc).
    @inline(__always) public func contains(_ px: Double, _ py: Double) -> Bool {
        switch shape {
        case .square:
            return px >= x && px <= x + side && py >= y && py <= y + side
        case .circle:
            let r = side / 2, dx = px - (x + r), dy = py - (y + r)
            return dx * dx + dy * dy <= r * r
        case .triangle:
            // Apex (x + s/2, y), base from (x, y + s) to (x + s, y + s): half-width at depth d is d / 2.
            let d = py - y
            return d >= 0 && d <= side && abs(px - (x + side / 2)) <= d / 2
        case .star:
            // Even-odd crossing test on the 10-gon.
            var inside = false
            var j = 9
            for i in 0..<10 {
                let (xi, yi) = starVertices[i], (xj, yj) = starVertices[j]
                if (yi > py) != (yj > py) && px < (xj - xi) * (py - yi) / (yj - yi) + xi { inside.toggle() }
                j = i
            }
            return inside
        }
    }

    /// Area of the shape as a fraction of its box's area s^2.
    public static func areaFraction(_ shape: SceneShape) -> Double {
        switch shape {
        case .square: return 1
        case .circle: return Double.pi / 4
        case .triangle: return 0.5
        case .star:
            // Ten triangles (centre, outer vertex, inner vertex) with angle 36 degrees, outer radius 1/2.
            let r = 0.5
            return 10 * 0.5 * r * (r * starInnerRatio) * sin(Double.pi / 5)
        }
    }

    /// Vertical offset of the shape's area centroid below its box centre, as a fraction of s
    /// (triangle: centroid at 2s/3 from the top, s/6 below the centre; the others: 0).
    public static func centroidOffset(_ shape: SceneShape) -> Double { shape == .triangle ? 1.0 / 6.0 : 0 }

    /// Fraction of the pixel [px, px+1) x [py, py+1) the shape covers, estimated on an
    /// `n` x `n` grid of sample points at sub-pixel centres.
    @inline(__always) public func coverage(px: Int, py: Int, samples n: Int) -> Float {
        var hit = 0
        let step = 1.0 / Double(n)
        for j in 0..<n {
            let sy = Double(py) + (Double(j) + 0.5) * step
            for i in 0..<n where contains(Double(px) + (Double(i) + 0.5) * step, sy) { hit += 1 }
        }
        return Float(hit) / Float(n * n)
    }
}
