import Foundation

/// An online experiment (A/B test): recommendations for each user (or session) come from one of its variants, each
/// a model expression, and what shoppers then do is counted per variant (``ExperimentReport``).
///
/// ```
/// CREATE EXPERIMENT 'ranker' VARIANTS (control: USING als, b: USING BLEND(als 0.6, sasrec 0.4)) SPLIT 50/50
/// RECOMMEND 10 ITEMS FOR USER 'u42' IN EXPERIMENT 'ranker'     -- answers recommendation_id and variant
/// EVENT purchase USER 'u42' ITEM 'i7' VALUE 19.9 FROM RECOMMENDATION 'rid'
/// SHOW EXPERIMENT 'ranker'
/// ```
public struct Experiment: Sendable, Hashable, Codable {
    /// How requests are spread over the variants.
    public enum Allocation: String, Sendable, Hashable, Codable, CaseIterable {
        /// A fixed split: a hash of (experiment, user or session) picks the variant, the same one every time.
        case split
        /// Thompson sampling on each variant's conversions per impression: traffic shifts to the variant that
        /// converts best (a bandit). The variant is drawn per request, so a user may see several.
        case thompson
    }

    /// Whether the experiment still assigns variants and counts outcomes.
    public enum State: String, Sendable, Hashable, Codable {
        /// Assigning variants, recording impressions, attributing events.
        case running
        /// Stopped: every request gets the first variant; no impressions are recorded and no events attributed.
        case stopped
    }

    /// One arm of the experiment.
    public struct Variant: Sendable, Hashable, Codable {
        /// Its name, unique in the experiment (`control`, `b`).
        public var name: String
        /// The models that serve it, in the query language's spelling (`BLEND(als 0.6, sasrec 0.4)`).
        public var using: String
        /// Its share of the traffic in percent (the shares add up to 100).
        public var share: Int
    }

    /// The experiment's name, unique in the database.
    public var name: String
    /// A number given at creation, the prefix of its stored impressions and recommendation ids.
    public var number: UInt32
    /// Its arms; the first is the control that the others are compared with.
    public var variants: [Variant]
    /// How traffic is spread.
    public var allocation: Allocation
    /// Running or stopped.
    public var state: State
    /// An event with no `FROM RECOMMENDATION` is credited to the newest impression of the same user (or session)
    /// that showed the same item at most this many seconds before it.
    public var attributionWindowSeconds: Int
    /// When it was created (ISO 8601).
    public var createdAt: String
    /// When its split, allocation or state last changed (ISO 8601).
    public var changedAt: String

    /// The default attribution window: one day.
    public static let defaultAttributionWindow = 86_400
    /// Most variants in one experiment.
    public static let maxVariants = 16

    /// Checks what a statement asked for: names unique, shares between 0 and 100 adding up to 100.
    static func validate(variants: [Variant]) throws {
        guard variants.count >= 2 else {
            throw RecDBError(.invalidArgument, "an experiment needs at least two variants, not \(variants.count)")
        }
        guard variants.count <= maxVariants else {
            throw RecDBError(.invalidArgument, "an experiment has at most \(maxVariants) variants, not \(variants.count)")
        }
        var names = Set<String>()
        for variant in variants {
            try CatalogLimits.check(variant.name, .modelName)
            guard names.insert(variant.name).inserted else {
                throw RecDBError(.invalidArgument, "variant '\(variant.name)' is named twice")
            }
            guard (0...100).contains(variant.share) else {
                throw RecDBError(.invalidArgument, "variant '\(variant.name)' has a share of \(variant.share) %")
            }
        }
        let total = variants.reduce(0) { $0 + $1.share }
        guard total == 100 else {
            throw RecDBError(
                .invalidArgument,
                "the SPLIT shares add up to \(total), not 100 (\(variants.map { String($0.share) }.joined(separator: "/")))")
        }
    }

    // MARK: - Bucketing

    /// The variant a fixed split gives `unit` (a user or session key): a 64-bit FNV-1a hash of the experiment's name
    /// and the unit, mapped to 0..<10,000 and looked up in the cumulative shares. The same unit always lands in the
    /// same variant; ramping the first variant down (80/20 → 50/50) moves only some of its users, never the others'.
    public func splitVariant(for unit: String) -> Int {
        let bucket = Self.bucket(experiment: name, unit: unit)
        var upper = 0
        for (index, variant) in variants.enumerated() {
            upper += variant.share * 100
            if bucket < upper { return index }
        }
        return variants.count - 1
    }

    /// A number in 0..<10,000 from a hash of (experiment, unit): uniform over units, stable across processes.
    public static func bucket(experiment: String, unit: String) -> Int {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        func mix(_ byte: UInt8) {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        for byte in experiment.utf8 { mix(byte) }
        mix(0)
        for byte in unit.utf8 { mix(byte) }
        // FNV's low bits mix poorly for short keys: finish with a 64-bit avalanche (splitmix64's).
        hash ^= hash >> 30
        hash = hash &* 0xbf58_476d_1ce4_e5b9
        hash ^= hash >> 27
        hash = hash &* 0x94d0_49bb_1331_11eb
        hash ^= hash >> 31
        return Int(hash % 10_000)
    }
}
