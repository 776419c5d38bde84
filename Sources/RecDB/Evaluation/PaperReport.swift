import Foundation

/// How `recctl report paper` runs the paper's protocol (``RecDatabase/paperReport(_:progress:)``).
public struct PaperProtocol: Sendable {
    /// Models by kind name or model expression, in table order; kinds this build does not know are skipped with a
    /// note in the report (so a list may name kinds that land later, such as `irgan`). A kind may carry its own
    /// parameters, `KIND:NAME=VALUE[:NAME=VALUE…]` (``variant(_:)``), so one report can hold a kind twice:
    /// `als` and `als:augment_weight=0.3` (ALS with CFGAN-synthesised interactions). Among HyGenRec's parts, such an
    /// augmented part adds the ablation row `hygenrec without gan` (the part trained without augmentation).
    public var models: [String] = [
        "popularity", "itemknn", "als", "bpr", "ease", "content", "text", "ncf", "sasrec", "session", "irgan",
    ]
    /// The models HyGenRec blends (those that are known and train on this data).
    public var hybridParts: [String] = ["als", "sasrec", "session", "text", "itemknn", "popularity"]
    /// Runs per model; run `s` trains with seed 42 + s. Models without a seed train once (deterministic).
    public var seeds = 3
    /// List length of every metric but the recall curve.
    public var k = 10
    /// Cut-offs of the recall-vs-K curve.
    public var recallCurve = [1, 5, 10, 20, 50]
    /// The k-core: users and items with fewer interactions are removed, repeatedly, before the split (5, as the
    /// paper's Amazon 5-core data).
    public var core = 5
    /// Parameters set on a kind before training, by kind name: `["sasrec": ["epochs": 20]]`.
    public var parameters: [String: [String: Double]] = [:]
    /// Validation users the blender learns from, at most.
    public var blenderUsers = 4000
    /// Training and evaluation threads.
    public var threads = 2
    /// Whether rows are scored on the validation part instead of the test part (for choosing settings; the learned
    /// blend is then scored on the users it was fit on).
    public var onValidation = false
    /// What a user's history holds when the test part is scored (default: the training and validation events,
    /// the standard protocol).
    public var testHistory = Evaluator.TestHistory.withValidation

    /// The defaults: every model, 3 seeds, K 10, 5-core.
    public init() {}

    /// The kind and parameters of a model name: `als:augment_weight=0.3:factors=64` → (`als`, [augment_weight: 0.3,
    /// factors: 64]); a plain name has none. Throws `invalidArgument` naming the part that is not `NAME=NUMBER`.
    public static func variant(_ name: String) throws -> (kind: String, parameters: [String: Double]) {
        let pieces = name.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        var parameters: [String: Double] = [:]
        for piece in pieces.dropFirst() {
            let pair = piece.split(separator: "=", maxSplits: 1).map(String.init)
            guard pair.count == 2, !pair[0].isEmpty, let value = Double(pair[1]) else {
                throw RecDBError(
                    .invalidArgument, "model '\(name)': '\(piece)' is not NAME=NUMBER (e.g. als:augment_weight=0.3)")
            }
            parameters[pair[0]] = value
        }
        return (pieces[0], parameters)
    }

    /// The name ``variant(_:)`` reads back as `kind` with `parameters` (sorted by name; the kind alone without any).
    public static func variantName(kind: String, parameters: [String: Double]) -> String {
        ([kind] + parameters.sorted { $0.key < $1.key }.map { "\($0.key)=\(Self.number($0.value))" })
            .joined(separator: ":")
    }

    private static func number(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(value)
    }

    /// A small run for smoke tests: one seed, epoch-trained kinds capped at 2 epochs, 500 blender users.
    public static var quick: PaperProtocol {
        var p = PaperProtocol()
        p.seeds = 1
        p.blenderUsers = 500
        p.parameters = ["sasrec": ["epochs": 2], "ncf": ["epochs": 2], "bpr": ["iterations": 10]]
        return p
    }
}

extension ModelSpec {
    /// This kind's spec with `parameters` set by name (`["temperature": 0.1]`); throws `invalidArgument` naming a
    /// parameter the kind does not have (and those it has), or when the spec is a blend or chain.
    public func setting(_ parameters: [String: Double]) throws -> ModelSpec {
        guard !parameters.isEmpty else { return self }
        guard let stored else {
            throw RecDBError(.invalidArgument, "parameters are set on one kind, not on \(name)")
        }
        var table = stored.parameterTable
        for (key, value) in parameters.sorted(by: { $0.key < $1.key }) {
            guard table[key] != nil else {
                throw RecDBError(
                    .invalidArgument,
                    "\(name) has no parameter '\(key)' (it has \(table.keys.sorted().joined(separator: ", ")))")
            }
            table[key] = value
        }
        return type(of: stored).spec(parameterTable: table)
    }
}

/// The metrics of one run, as the paper's tables show them.
public struct PaperMetrics: Sendable, Codable, Equatable {
    /// Precision@K.
    public var precision: Double
    /// Recall@K.
    public var recall: Double
    /// NDCG@K.
    public var ndcg: Double
    /// Hit rate@K.
    public var hitRate: Double
    /// 1 − mean pairwise Jaccard similarity of the list's category and tag sets (nil without categories or tags).
    public var diversity: Double?
    /// Mean −log2 of the recommended items' share of training users.
    public var novelty: Double
    /// Distinct recommended items ÷ catalog items.
    public var coverage: Double
    /// NDCG@K over users with at most 3 training interactions.
    public var coldUserNDCG: Double?
    /// Hit rate@K over users with at most 3 training interactions.
    public var coldUserHitRate: Double?
    /// Hit rate@K counting only held-out items that never occur in training.
    public var coldItemHitRate: Double?
    /// Recall at each cut-off of the curve.
    public var recallAt: [Int: Double]
    /// Seconds training took.
    public var trainingSeconds: Double

    /// The metrics of an evaluation result plus its training time.
    public init(_ result: EvaluationResult, trainingSeconds: Double) {
        precision = result.precision
        recall = result.recall
        ndcg = result.ndcg
        hitRate = result.hitRate
        diversity = result.diversity
        novelty = result.novelty
        coverage = result.coverage
        coldUserNDCG = result.coldStart?.ndcg
        coldUserHitRate = result.coldStart?.hitRate
        coldItemHitRate = result.coldItems?.hitRate
        recallAt = result.recallAt ?? [:]
        self.trainingSeconds = trainingSeconds
    }
}

/// A mean and sample standard deviation over runs (sd 0 for one run).
public struct Spread: Sendable, Codable, Equatable {
    /// The mean.
    public var mean: Double
    /// The sample standard deviation (n − 1), 0 for a single value.
    public var sd: Double

    /// The spread of `values`; nil when there are none.
    public init?(_ values: [Double]) {
        guard !values.isEmpty else { return nil }
        mean = values.reduce(0, +) / Double(values.count)
        let m = mean
        sd = values.count > 1
            ? (values.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(values.count - 1)).squareRoot() : 0
    }
}

/// One row of the report's tables: a model's runs and their spread per metric.
public struct PaperRow: Sendable, Codable {
    /// The model's name (`als`, `hygenrec`, `hygenrec without text`).
    public var model: String
    /// Which table the row belongs to: `model`, `hybrid` or `ablation`.
    public var group: String
    /// One entry per seed (one for a deterministic model).
    public var runs: [PaperMetrics]
    /// The served model expressions of a learned blend, per seed (warm users, then cold users); empty otherwise.
    public var expressions: [String] = []

    /// Mean and sd of a metric over the runs (nil when no run has it).
    public func spread(_ metric: (PaperMetrics) -> Double?) -> Spread? { Spread(runs.compactMap(metric)) }
}

/// The paper's experiment on one database: tables of every model, HyGenRec and its ablation, with the protocol
/// stated. Encodes as the report's JSON.
public struct PaperReport: Sendable, Codable {
    /// The data set's name as given.
    public var dataset: String
    /// The protocol in words, for the report's header.
    public var protocolDescription: String
    /// K of the metrics.
    public var k: Int
    /// Cut-offs of the recall curve.
    public var recallCurve: [Int]
    /// Interactions, users and items after the k-core filter, and the split's sizes.
    public var counts: [String: Int]
    /// Every row: single models, then HyGenRec, then its ablation.
    public var rows: [PaperRow]
    /// What was skipped or could not be run, and why.
    public var notes: [String]
    /// Seconds the whole report took.
    public var seconds: Double

    /// The row named `model`.
    public func row(_ model: String) -> PaperRow? { rows.first { $0.model == model } }

    /// The single model (not HyGenRec or its ablation) with the best mean NDCG@K.
    public var bestSingle: PaperRow? {
        rows.filter { $0.group == "model" }.max { ($0.spread(\.ndcg)?.mean ?? 0) < ($1.spread(\.ndcg)?.mean ?? 0) }
    }
}

extension InteractionLog {
    /// The interactions of users and items that each have at least `core` positive interactions among what is
    /// kept, removing the others repeatedly until none is left to remove (the k-core of the bipartite graph).
    public func core(_ core: Int) -> InteractionLog {
        guard core > 1 else { return self }
        var keep = weights.map { $0 > 0 }
        while true {
            var userCounts: [UInt32: Int] = [:], itemCounts: [UInt32: Int] = [:]
            for index in 0..<count where keep[index] {
                userCounts[users[index], default: 0] += 1
                itemCounts[items[index], default: 0] += 1
            }
            var removed = false
            for index in 0..<count where keep[index] {
                if userCounts[users[index], default: 0] < core || itemCounts[items[index], default: 0] < core {
                    keep[index] = false
                    removed = true
                }
            }
            if !removed { break }
        }
        return filter { keep[$0] }
    }
}
