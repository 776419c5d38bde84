import ArgumentParser
import Foundation
import RecDB

extension RecCtl {
    struct Eval: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Train models on a split of the events and compare them with full-ranking metrics at K.",
            discussion: """
                Splits: leave-last-out (per user: last interaction test, the one before validation) or temporal \
                (80/10/10 by time). Every item a user has not met in training is ranked; no sampled negatives. \
                Columns: precision, recall, F1, NDCG, MRR and hit rate at K, catalog coverage, intra-list \
                diversity, novelty, training time; cold = users with at most 3 training interactions.
                """)

        @OptionGroup var options: DatabaseOptions
        @Option(help: "leave-last-out or temporal.") var split: String = "leave-last-out"
        @Option(name: .short, help: "List length K.") var k: Int = 10
        @Option(help: "Comma-separated models: popularity, itemknn, als, bpr.") var models: String = "popularity,itemknn,als,bpr"
        @Option(help: "Factors of ALS and BPR.") var factors: Int = 64
        @Option(help: "ALS iterations.") var alsIterations: Int = 15
        @Option(help: "BPR iterations.") var bprIterations: Int = 100
        @Option(help: "ALS regularisation.") var regularization: Float = 0.01
        @Option(help: "ALS confidence scale applied to event weights.") var alpha: Float = 1
        @Option(help: "Item-kNN neighbours kept per item.") var neighbours: Int = 100
        @Option(help: "Threads for training and evaluation.") var threads: Int = ProcessInfo.processInfo.activeProcessorCount
        @Flag(help: "Evaluate on the validation part instead of the test part.") var validation = false

        func run() throws {
            try running(json: options.json) {
                guard let kind = EvaluationSplit.Kind(rawValue: split) else {
                    throw ValidationError("--split must be leave-last-out or temporal")
                }
                let specs = try models.split(separator: ",").map { name -> ModelSpec in
                    switch try ModelSpec.named(String(name)) {
                    case .als:
                        var p = ALSModel.Parameters()
                        p.factors = factors
                        p.iterations = alsIterations
                        p.regularization = regularization
                        p.alpha = alpha
                        return .als(p)
                    case .bpr:
                        var p = BPRModel.Parameters()
                        p.factors = factors
                        p.iterations = bprIterations
                        return .bpr(p)
                    case .itemKNN: return .itemKNN(neighbours: neighbours)
                    case let other: return other
                    }
                }
                let (splitInfo, rows) = try options.open().evaluate(
                    specs, split: kind, k: k, threads: max(1, threads), onValidation: validation)
                if options.json {
                    let encoder = JSONEncoder()
                    encoder.outputFormatting = [.sortedKeys]
                    let results = rows.map { row -> [String: Any] in
                        var object = (try? JSONSerialization.jsonObject(with: encoder.encode(row.result))) as? [String: Any] ?? [:]
                        object["training_seconds"] = row.trainingSeconds
                        return object
                    }
                    printJSON([
                        "split": kind.rawValue, "k": k, "test_users": splitInfo.test.count,
                        "skipped_users": splitInfo.skippedUsers, "results": results,
                    ])
                    return
                }
                print("Split \(kind.rawValue): \(formatCount(splitInfo.train.count)) training interactions, "
                    + "\(formatCount(splitInfo.test.count)) test users (\(splitInfo.skippedUsers) skipped: test item seen in training)")
                let header = ["model", "P@\(k)", "R@\(k)", "F1@\(k)", "NDCG@\(k)", "MRR@\(k)", "HR@\(k)", "cover", "divers",
                              "novelty", "cold NDCG", "train s"]
                print(header.map { $0.padding(toLength: max(9, $0.count), withPad: " ", startingAt: 0) }.joined(separator: " "))
                for row in rows {
                    let r = row.result
                    let cells = [
                        r.model, f(r.precision), f(r.recall), f(r.f1), f(r.ndcg), f(r.mrr), f(r.hitRate), f(r.coverage),
                        f(r.diversity), String(format: "%.2f", r.novelty),
                        r.coldStart.map { f($0.ndcg) + " (\($0.users))" } ?? "-", String(format: "%.2f", row.trainingSeconds),
                    ]
                    print(zip(cells, header).map { $0.0.padding(toLength: max(9, $0.1.count), withPad: " ", startingAt: 0) }
                        .joined(separator: " "))
                }
            }
        }

        private func f(_ value: Double) -> String { String(format: "%.4f", value) }
    }
}
