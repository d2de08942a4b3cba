import Foundation
import MuseCore

/// Renders scenes (SCENES.md "Canvas"): a flat background, flat-filled shapes,
/// anti-aliased by supersampling.
///
/// Supersampling: every pixel of the 128-px canvas is sampled on a
/// `supersample` x `supersample` grid (default 4x4 = 16 samples, the spec's
/// minimum of 4x per axis) and the samples are averaged, which is exactly a
/// render at 4x resolution box-filtered down. Boxes never overlap, so each
/// pixel mixes the background with at most one object colour. Colours are
/// mixed in 8-bit sRGB values (as a box filter over an sRGB render does) and the
/// result is rounded to 8 bits. The 64-px image is the (8-bit) 128-px render
/// area-averaged 2x2 (`Image.resized(.box)`) and rounded to 8 bits again.
public struct SceneRenderer: Sendable {
    /// Canvas side of the full-resolution render.
    public static let canvas = 128
    /// Samples per pixel along each axis.
    public var supersample: Int

    public init(supersample: Int = 4) {
        precondition(supersample >= 4, "SCENES.md asks for at least 4x supersampling")
        self.supersample = supersample
    }

    /// The 128 x 128 RGB render of `scene`, quantised to 8 bits.
    public func render128(_ scene: Scene) -> Image {
        let n = SceneRenderer.canvas
        let bg = SceneColours.backgrounds[scene.background].float
        var img = Image(width: n, height: n, fill: bg)
        for o in scene.objects {
            let g = ShapeGeometry(shape: o.pair.shape, x: o.x, y: o.y, side: o.side)
            let col = SceneColours.objects[o.pair.colour].float
            let x0 = max(0, Int(o.x.rounded(.down))), x1 = min(n - 1, Int((o.x + o.side).rounded(.down)))
            let y0 = max(0, Int(o.y.rounded(.down))), y1 = min(n - 1, Int((o.y + o.side).rounded(.down)))
            guard x0 <= x1, y0 <= y1 else { continue }
            for py in y0...y1 {
                for px in x0...x1 {
                    let a = g.coverage(px: px, py: py, samples: supersample)
                    if a == 0 { continue }
                    let i = img.index(px, py)
                    for c in 0..<3 { img.pixels[i + c] = bg[c] + a * (col[c] - bg[c]) }
                }
            }
        }
        return SceneRenderer.quantised(img)
    }

    /// The 64 x 64 image: the 128-px render area-averaged 2x2.
    public static func downsample64(_ img128: Image) -> Image {
        quantised(img128.resized(width: img128.width / 2, height: img128.height / 2, filter: .box))
    }

    /// The render at `size` (128 or 64).
    public func render(_ scene: Scene, size: Int) -> Image {
        precondition(size == 128 || size == 64, "scenes render at 128 or 64 px")
        let full = render128(scene)
        return size == 128 ? full : SceneRenderer.downsample64(full)
    }

    /// Rounds every value to the nearest multiple of 1/255 (what an 8-bit PNG stores).
    public static func quantised(_ img: Image) -> Image {
        var out = img
        for i in out.pixels.indices { out.pixels[i] = (max(0, min(1, out.pixels[i])) * 255).rounded() / 255 }
        return out
    }
}
