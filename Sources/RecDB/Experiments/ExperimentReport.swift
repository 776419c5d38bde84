import Foundation

/// What `SHOW EXPERIMENT` answers: per variant its users, impressions, clicks, click-through rate, conversions,
/// conversion rate per user and revenue per user with 95 % intervals, and each variant against the first (the
/// control) with a fixed-horizon 95 % interval and an always-valid one (a mixture sequential probability ratio test,
/// safe to look at after every impression).
struct ExperimentReport {
    /// One unit (user or session) in one variant.
    struct UnitTotals {
        var impressions = 0
        var clicks = 0
        var conversions = 0
        var revenue = 0.0
    }

    /// One variant's totals.
    struct VariantTotals {
        var impressions = 0
        var clicks = 0
        var conversions = 0
        var revenue = 0.0
        var units: [String: UnitTotals] = [:]
    }

    /// One page shown: its variant, when, and the clicks credited to it.
    struct Page {
        var variant: Int
        var time: Int64
        var clicks = 0
    }

    let experiment: Experiment
    var variants: [VariantTotals]
    /// Every page shown, by recommendation number: what ``ExperimentTimeline`` charts.
    var pages: [UInt64: Page] = [:]

    /// The normal quantile of a two-sided 95 % interval.
    static let z = 1.959_963_984_540_054
    /// The error rate of the always-valid intervals and test.
    static let alpha = 0.05

    init<R: CatalogReading & ~Copyable>(_ experiment: Experiment, reader: borrowing R) throws {
        self.experiment = experiment
        variants = Array(repeating: VariantTotals(), count: experiment.variants.count)
        guard let schema = reader.experimentSchema else { return }
        let prefix = ExperimentSchema.experimentPrefix(experiment.number)
        var shown: [UInt64: (variant: Int, unit: String)] = [:]
        try schema.impressions.scanRaw(in: reader.txn, prefix: prefix) { key, value in
            let id = RecommendationID(experiment: experiment.number, number: key.loadBigEndianUInt64(at: 4))
            let impression = try Impression(id: id, bytes: value)
            let variant = Int(impression.variant)
            guard variant < variants.count else {
                throw RecDBError(.corrupted, "impression \(id) names variant \(variant) of \(variants.count)")
            }
            shown[id.number] = (variant, impression.unit)
            pages[id.number] = Page(variant: variant, time: impression.time)
            variants[variant].impressions += 1
            variants[variant].units[impression.unit, default: UnitTotals()].impressions += 1
            return .next
        }
        try schema.outcomes.scanRaw(in: reader.txn, prefix: prefix) { key, value in
            guard let (variant, unit) = shown[key.loadBigEndianUInt64(at: 4)] else { return .next }
            let outcome = try ImpressionOutcome(bytes: value)
            switch outcome.type {
            case ImpressionOutcome.clickType:
                variants[variant].clicks += 1
                pages[key.loadBigEndianUInt64(at: 4)]?.clicks += 1
                variants[variant].units[unit, default: UnitTotals()].clicks += 1
            case ImpressionOutcome.conversionType:
                variants[variant].conversions += 1
                variants[variant].revenue += outcome.value
                variants[variant].units[unit, default: UnitTotals()].conversions += 1
                variants[variant].units[unit, default: UnitTotals()].revenue += outcome.value
            default:
                break
            }
            return .next
        }
    }

    /// The answer, as documented in `Schemas/query-language.md`.
    var value: QueryValue {
        var rows: [QueryValue] = []
        for (index, totals) in variants.enumerated() {
            let definition = experiment.variants[index]
            let users = totals.units.count
            let converted = totals.units.values.count { $0.conversions > 0 }
            let revenue = Summary(totals.units.values.map(\.revenue))
            rows.append([
                "name": .string(definition.name), "using": .string(definition.using),
                "share": .number(Double(definition.share)), "users": .number(Double(users)),
                "impressions": .number(Double(totals.impressions)), "clicks": .number(Double(totals.clicks)),
                "ctr": .number(Self.ratio(totals.clicks, totals.impressions)),
                "ctr_interval": Self.pair(Self.wilson(totals.clicks, totals.impressions)),
                "conversions": .number(Double(totals.conversions)), "converted_users": .number(Double(converted)),
                "conversion_rate": .number(Self.ratio(converted, users)),
                "conversion_interval": Self.pair(Self.wilson(converted, users)),
                "revenue": .number(totals.revenue), "revenue_per_user": .number(revenue.mean),
                "revenue_per_user_interval": Self.pair(revenue.interval),
            ])
        }
        var comparisons: [QueryValue] = []
        if let control = variants.first {
            for (index, totals) in variants.enumerated().dropFirst() {
                for metric in ["conversion_rate", "revenue_per_user"] {
                    let pick: (UnitTotals) -> Double =
                        metric == "conversion_rate" ? { $0.conversions > 0 ? 1 : 0 } : { $0.revenue }
                    let a = Summary(control.units.values.map(pick))
                    let b = Summary(totals.units.values.map(pick))
                    comparisons.append(
                        Comparison(control: a, treatment: b).value(
                            variant: experiment.variants[index].name, against: experiment.variants[0].name,
                            metric: metric))
                }
            }
        }
        return [
            "name": .string(experiment.name), "state": .string(experiment.state.rawValue),
            "allocation": .string(experiment.allocation.rawValue),
            "attribution_window_s": .number(Double(experiment.attributionWindowSeconds)),
            "created_at": .string(experiment.createdAt), "changed_at": .string(experiment.changedAt),
            "variants": .array(rows), "comparisons": .array(comparisons),
        ]
    }

    static func ratio(_ count: Int, _ total: Int) -> Double { total == 0 ? 0 : Double(count) / Double(total) }

    static func pair(_ interval: (Double, Double)) -> QueryValue { .array([.number(interval.0), .number(interval.1)]) }

    /// The Wilson score interval of a proportion (sensible for small counts and proportions near 0 or 1).
    static func wilson(_ count: Int, _ total: Int) -> (Double, Double) {
        guard total > 0 else { return (0, 1) }
        let n = Double(total)
        let p = Double(count) / n
        let z2 = z * z
        let centre = (p + z2 / (2 * n)) / (1 + z2 / n)
        let half = z * (p * (1 - p) / n + z2 / (4 * n * n)).squareRoot() / (1 + z2 / n)
        return (max(0, centre - half), min(1, centre + half))
    }

    /// Mean and variance of per-unit values.
    struct Summary {
        var count: Int
        var mean: Double
        /// The sample variance (n − 1 in the denominator).
        var variance: Double

        init(_ values: [Double]) {
            count = values.count
            mean = values.isEmpty ? 0 : values.reduce(0, +) / Double(values.count)
            let m = mean
            variance = values.count < 2 ? 0 : values.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(values.count - 1)
        }

        /// The 95 % normal interval of the mean.
        var interval: (Double, Double) {
            guard count > 0 else { return (0, 0) }
            let half = z * (variance / Double(count)).squareRoot()
            return (mean - half, mean + half)
        }
    }

    /// A treatment's mean per unit against the control's.
    struct Comparison {
        var control: Summary
        var treatment: Summary

        var difference: Double { treatment.mean - control.mean }

        /// The variance of the difference of means (unpooled).
        var variance: Double {
            guard control.count > 0, treatment.count > 0 else { return .infinity }
            return control.variance / Double(control.count) + treatment.variance / Double(treatment.count)
        }

        /// The mixture's variance: a normal prior on the effect with a tenth of the pooled per-unit standard
        /// deviation, the scale of effects worth detecting.
        var mixtureVariance: Double {
            let pooled = (control.variance + treatment.variance) / 2
            return max(pooled / 100, 1e-12)
        }

        /// The mixture likelihood ratio of "the difference is `theta`" (Johari, Pekelis and Walsh's mSPRT for two
        /// normal means): an always-valid p-value is 1 / ratio at `theta` = 0.
        func likelihoodRatio(theta: Double = 0) -> Double {
            let v = variance
            let tau2 = mixtureVariance
            guard v.isFinite, v > 0 else { return 1 }
            let d = difference - theta
            return (v / (v + tau2)).squareRoot() * exp(tau2 * d * d / (2 * v * (v + tau2)))
        }

        /// The always-valid (1 − α) confidence sequence: the differences whose likelihood ratio stays below 1/α.
        var alwaysValidInterval: (Double, Double) {
            let v = variance
            let tau2 = mixtureVariance
            guard v.isFinite, v > 0 else { return (-.infinity, .infinity) }
            let half = (2 * v * (v + tau2) / tau2 * log(((v + tau2) / v).squareRoot() / alpha)).squareRoot()
            return (difference - half, difference + half)
        }

        func value(variant: String, against control: String, metric: String) -> QueryValue {
            let v = variance
            let half = v.isFinite ? z * v.squareRoot() : .infinity
            let sequential = alwaysValidInterval
            let p = min(1, 1 / likelihoodRatio())
            return [
                "variant": .string(variant), "against": .string(control), "metric": .string(metric),
                "difference": .number(difference),
                "interval": .array([.number(bounded(difference - half)), .number(bounded(difference + half))]),
                "always_valid_interval": .array([.number(bounded(sequential.0)), .number(bounded(sequential.1))]),
                "always_valid_p": .number(p),
                "significant": .bool(p < alpha),
            ]
        }

        /// JSON has no infinity: an unbounded end is reported as ±1e308.
        private func bounded(_ x: Double) -> Double { x.isFinite ? x : (x < 0 ? -1e308 : 1e308) }
    }
}
