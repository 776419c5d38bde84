import Foundation

/// Small self-contained SVG charts for reports: no scripts, no external fonts or files, a generic font family only.
public enum SVGChart {
    /// Colours of series and bars, in order.
    static let palette = ["#4477aa", "#ee6677", "#228833", "#ccbb44", "#66ccee", "#aa3377", "#bbbbbb", "#222255"]

    /// Text safe inside SVG/HTML elements and attributes.
    public static func escape(_ text: String) -> String {
        var out = ""
        for c in text {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(c)
            }
        }
        return out
    }

    private static func number(_ value: Double) -> String { String(format: "%.1f", value) }

    /// A horizontal bar per label with its mean and a ±sd error bar; `highlight` labels are drawn in the second
    /// colour. Values are drawn from 0 to the largest mean + sd.
    public static func bars(
        title: String, labels: [String], means: [Double], sds: [Double], highlight: Set<String> = []
    ) -> String {
        let rowHeight = 22.0, left = 190.0, plotWidth = 360.0, top = 30.0
        let height = top + rowHeight * Double(labels.count) + 30
        let high = max(zip(means, sds).map { $0 + $1 }.max() ?? 0, 1e-9)
        var svg = header(width: left + plotWidth + 80, height: height, title: title)
        for (index, label) in labels.enumerated() {
            let y = top + rowHeight * Double(index)
            let mean = means[index], sd = index < sds.count ? sds[index] : 0
            let width = plotWidth * max(0, mean) / high
            let colour = highlight.contains(label) ? palette[1] : palette[0]
            svg += "<text x=\"\(number(left - 6))\" y=\"\(number(y + 15))\" text-anchor=\"end\">\(escape(label))</text>"
            svg += "<rect x=\"\(number(left))\" y=\"\(number(y + 4))\" width=\"\(number(width))\" height=\"14\" fill=\"\(colour)\"/>"
            if sd > 0 {
                let a = left + plotWidth * max(0, mean - sd) / high, b = left + plotWidth * (mean + sd) / high
                svg += "<path d=\"M\(number(a)) \(number(y + 11))H\(number(b))M\(number(a)) \(number(y + 6))V\(number(y + 16))"
                    + "M\(number(b)) \(number(y + 6))V\(number(y + 16))\" stroke=\"#000\" fill=\"none\"/>"
            }
            svg += "<text x=\"\(number(left + plotWidth * (mean + sd) / high + 6))\" y=\"\(number(y + 15))\">"
                + String(format: "%.4f", mean) + "</text>"
        }
        svg += "<path d=\"M\(number(left)) \(number(top))V\(number(height - 26))\" stroke=\"#444\"/>"
        return svg + "</svg>"
    }

    /// One line per series over shared x positions (`xLabels`, evenly spaced), y from 0 to the largest value.
    /// `bands`, when given, holds one interval per series (`low` and `high` at each x), drawn as a shaded band
    /// behind its line.
    public static func lines(
        title: String, xLabels: [String], series: [(name: String, values: [Double])], xTitle: String, yTitle: String,
        bands: [(low: [Double], high: [Double])] = []
    ) -> String {
        let left = 60.0, top = 30.0, plotWidth = 420.0, plotHeight = 240.0
        let legendWidth = 200.0
        let high = max((series.flatMap(\.values) + bands.flatMap(\.high)).max() ?? 0, 1e-9)
        var svg = header(width: left + plotWidth + legendWidth, height: top + plotHeight + 50, title: title)
        func x(_ index: Int) -> Double {
            left + (xLabels.count > 1 ? plotWidth * Double(index) / Double(xLabels.count - 1) : plotWidth / 2)
        }
        func y(_ value: Double) -> Double { top + plotHeight * (1 - value / high) }
        svg += "<path d=\"M\(number(left)) \(number(top))V\(number(top + plotHeight))H\(number(left + plotWidth))\" stroke=\"#444\" fill=\"none\"/>"
        for tick in 0...4 {
            let value = high * Double(tick) / 4
            svg += "<text x=\"\(number(left - 6))\" y=\"\(number(y(value) + 4))\" text-anchor=\"end\">"
                + String(format: "%.3f", value) + "</text>"
        }
        for (index, label) in xLabels.enumerated() {
            svg += "<text x=\"\(number(x(index)))\" y=\"\(number(top + plotHeight + 16))\" text-anchor=\"middle\">\(escape(label))</text>"
        }
        svg += "<text x=\"\(number(left + plotWidth / 2))\" y=\"\(number(top + plotHeight + 36))\" text-anchor=\"middle\">\(escape(xTitle))</text>"
        svg += "<text x=\"12\" y=\"\(number(top + plotHeight / 2))\" transform=\"rotate(-90 12 \(number(top + plotHeight / 2)))\" text-anchor=\"middle\">\(escape(yTitle))</text>"
        for (index, band) in bands.enumerated() where band.low.count == band.high.count && !band.low.isEmpty {
            let upper = band.high.enumerated().map { "\(number(x($0.offset))),\(number(y($0.element)))" }
            let lower = band.low.enumerated().reversed().map { "\(number(x($0.offset))),\(number(y($0.element)))" }
            svg += "<polygon points=\"\((upper + lower).joined(separator: " "))\" fill=\"\(palette[index % palette.count])\" "
                + "fill-opacity=\"0.18\" stroke=\"none\"/>"
        }
        for (index, line) in series.enumerated() {
            let colour = palette[index % palette.count]
            let points = line.values.enumerated().map { "\(number(x($0.offset))),\(number(y($0.element)))" }
            svg += "<polyline points=\"\(points.joined(separator: " "))\" fill=\"none\" stroke=\"\(colour)\" stroke-width=\"2\"/>"
            let legendY = top + 16 * Double(index)
            svg += "<rect x=\"\(number(left + plotWidth + 16))\" y=\"\(number(legendY))\" width=\"10\" height=\"10\" fill=\"\(colour)\"/>"
            svg += "<text x=\"\(number(left + plotWidth + 30))\" y=\"\(number(legendY + 9))\">\(escape(line.name))</text>"
        }
        return svg + "</svg>"
    }

    /// One labelled point per entry, axes from the smallest to the largest value of each coordinate.
    public static func scatter(
        title: String, points: [(name: String, x: Double, y: Double)], xTitle: String, yTitle: String
    ) -> String {
        let left = 60.0, top = 30.0, plotWidth = 420.0, plotHeight = 240.0
        var svg = header(width: left + plotWidth + 150, height: top + plotHeight + 50, title: title)
        let xs = points.map(\.x), ys = points.map(\.y)
        let (x0, x1) = (xs.min() ?? 0, max(xs.max() ?? 1, (xs.min() ?? 0) + 1e-9))
        let (y0, y1) = (ys.min() ?? 0, max(ys.max() ?? 1, (ys.min() ?? 0) + 1e-9))
        func px(_ v: Double) -> Double { left + 10 + (plotWidth - 20) * (v - x0) / (x1 - x0) }
        func py(_ v: Double) -> Double { top + plotHeight - 10 - (plotHeight - 20) * (v - y0) / (y1 - y0) }
        svg += "<path d=\"M\(number(left)) \(number(top))V\(number(top + plotHeight))H\(number(left + plotWidth))\" stroke=\"#444\" fill=\"none\"/>"
        svg += "<text x=\"\(number(left))\" y=\"\(number(top + plotHeight + 16))\">" + String(format: "%.3f", x0) + "</text>"
        svg += "<text x=\"\(number(left + plotWidth))\" y=\"\(number(top + plotHeight + 16))\" text-anchor=\"end\">"
            + String(format: "%.3f", x1) + "</text>"
        svg += "<text x=\"\(number(left - 6))\" y=\"\(number(top + plotHeight - 6))\" text-anchor=\"end\">" + String(format: "%.2f", y0) + "</text>"
        svg += "<text x=\"\(number(left - 6))\" y=\"\(number(top + 12))\" text-anchor=\"end\">" + String(format: "%.2f", y1) + "</text>"
        svg += "<text x=\"\(number(left + plotWidth / 2))\" y=\"\(number(top + plotHeight + 36))\" text-anchor=\"middle\">\(escape(xTitle))</text>"
        svg += "<text x=\"12\" y=\"\(number(top + plotHeight / 2))\" transform=\"rotate(-90 12 \(number(top + plotHeight / 2)))\" text-anchor=\"middle\">\(escape(yTitle))</text>"
        for (index, point) in points.enumerated() {
            let colour = palette[index % palette.count]
            svg += "<circle cx=\"\(number(px(point.x)))\" cy=\"\(number(py(point.y)))\" r=\"5\" fill=\"\(colour)\"/>"
            svg += "<text x=\"\(number(px(point.x) + 8))\" y=\"\(number(py(point.y) + 4))\">\(escape(point.name))</text>"
        }
        return svg + "</svg>"
    }

    private static func header(width: Double, height: Double, title: String) -> String {
        "<svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" width=\"\(number(width))\" height=\"\(number(height))\" "
            + "viewBox=\"0 0 \(number(width)) \(number(height))\" font-family=\"sans-serif\" font-size=\"12\">"
            + "<title>\(escape(title))</title><text x=\"4\" y=\"16\" font-weight=\"bold\">\(escape(title))</text>"
    }
}
