import Foundation

/// Lays images out in a labelled grid (A/B comparisons, contact sheets).
public enum ImageGrid {
    /// A grid with `columns` columns. Each cell is `cellSize` px wide and tall
    /// (images are scaled to fit, nearest-neighbour when enlarging so pixels
    /// stay visible, area-averaged when shrinking) with its label wrapped
    /// beneath it in up to `labelLines` lines. An optional `title` goes on top.
    public static func make(images: [Image], labels: [String], columns: Int, cellSize: Int,
                            labelLines: Int = 2, scale: Int = 1, padding: Int = 6,
                            title: String? = nil, background: [Float] = [1, 1, 1]) -> Image {
        precondition(images.count == labels.count, "ImageGrid: one label per image")
        precondition(columns > 0 && cellSize > 0)
        let rows = max(1, (images.count + columns - 1) / columns)
        let lineH = BitmapFont.lineHeight * scale
        let labelH = labelLines * lineH
        let titleH = title == nil ? 0 : lineH + padding
        let cellW = cellSize + padding, cellH = cellSize + labelH + padding * 2
        let width = padding + columns * cellW
        let height = padding + titleH + rows * cellH
        var canvas = Image(width: width, height: height, fill: Array(background.prefix(3)))
        if let t = title {
            canvas.drawText(String(t.prefix(max(1, (width - 2 * padding) / (BitmapFont.advance * scale)))),
                            x: padding, y: padding, scale: scale)
        }
        for (k, img) in images.enumerated() {
            let r = k / columns, c = k % columns
            let x0 = padding + c * cellW, y0 = padding + titleH + r * cellH
            let f = Double(cellSize) / Double(max(img.width, img.height))
            let w = max(1, Int((Double(img.width) * f).rounded())), h = max(1, Int((Double(img.height) * f).rounded()))
            let scaled = img.rgb().resized(width: w, height: h, filter: f >= 1 ? .nearest : .box)
            canvas.paste(scaled, x: x0 + (cellSize - w) / 2, y: y0 + (cellSize - h) / 2)
            let lines = BitmapFont.wrap(labels[k], maxWidth: cellSize, scale: scale).prefix(labelLines)
            for (li, line) in lines.enumerated() {
                canvas.drawText(line, x: x0, y: y0 + cellSize + 3 + li * lineH, scale: scale)
            }
        }
        return canvas
    }
}
