import Foundation

/// Click-through over time for each variant of an experiment: the cumulative click-through rate of the pages shown up
/// to each point, with its 95 % Wilson interval (the same rate and interval `SHOW EXPERIMENT` gives for the whole
/// run, so the last point equals its `ctr` and `ctr_interval`). What the dashboard charts.
///
/// ```swift
/// let timeline = try db.experimentTimeline("home-page", points: 12)
/// for variant in timeline.variants { print(variant.name, variant.points.last?.ctr ?? 0) }
/// ```
public struct ExperimentTimeline: Sendable {
    /// The rate up to one moment.
    public struct Point: Sendable, Hashable {
        /// The end of the period, in milliseconds since 1970: pages shown up to here count.
        public var time: Int64
        /// Pages shown up to `time`.
        public var impressions: Int
        /// Clicks credited to those pages.
        public var clicks: Int
        /// `clicks / impressions` (0 before the first page).
        public var ctr: Double
        /// The low end of the 95 % Wilson interval of `ctr`.
        public var low: Double
        /// The high end of that interval.
        public var high: Double
    }

    /// One variant's curve.
    public struct Variant: Sendable, Hashable {
        /// The variant's name.
        public var name: String
        /// One point per period, oldest first.
        public var points: [Point]
    }

    /// The experiment's name.
    public var experiment: String
    /// The variants in their declared order (control first).
    public var variants: [Variant]

    init(_ report: ExperimentReport, points count: Int) {
        experiment = report.experiment.name
        let times = report.pages.values.map(\.time)
        let first = times.min() ?? 0, last = times.max() ?? 0
        let count = max(1, count)
        // Evenly spaced period ends from the first page to the last.
        let ends = (1...count).map { first + (last - first) * Int64($0) / Int64(count) }
        var shown = Array(repeating: Array(repeating: 0, count: count), count: report.variants.count)
        var clicked = shown
        for page in report.pages.values where page.variant < report.variants.count {
            let index = ends.firstIndex { page.time <= $0 } ?? count - 1
            shown[page.variant][index] += 1
            clicked[page.variant][index] += page.clicks
        }
        variants = report.experiment.variants.enumerated().map { variant, definition in
            var impressions = 0, clicks = 0
            let points = ends.enumerated().map { index, end in
                impressions += shown[variant][index]
                clicks += clicked[variant][index]
                let interval = ExperimentReport.wilson(min(clicks, impressions), impressions)
                return Point(
                    time: end, impressions: impressions, clicks: clicks, ctr: ExperimentReport.ratio(clicks, impressions),
                    low: interval.0, high: interval.1)
            }
            return Variant(name: definition.name, points: points)
        }
    }
}

extension RecDatabase {
    /// Each variant's cumulative click-through rate at `points` evenly spaced moments from the experiment's first page
    /// to its last, with 95 % intervals. Throws `not_found` for an unknown experiment.
    public func experimentTimeline(_ name: String, points: Int = 12) throws -> ExperimentTimeline {
        try read { reader in
            guard let experiment = try reader.experiment(name) else {
                throw RecDBError(.notFound, "unknown experiment '\(name)'")
            }
            return ExperimentTimeline(try ExperimentReport(experiment, reader: reader), points: points)
        }
    }
}
