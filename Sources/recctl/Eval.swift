import ArgumentParser
import Foundation
import RecDB

extension RecCtl {
    struct Eval: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Train models on a split of the events and compare them with full-ranking metrics at K.",
            discussion: """
                Splits: leave-last-out (per user: last interaction test, the one before validation) or temporal \
                (80/10/10 by time). Models train on the training part. Every item a user has not met in their \
                history is ranked; no sampled negatives. Models see each user's history as RECOMMEND reads it \
                (newest events in time order: the latest visit for session models, the recency profile for content \
                and text), and blends and chains combine as served: when the test part is scored the history holds \
                the training and validation events (the standard protocol; --test-history training-only withholds \
                the validation events), when the validation part is scored the training events. \
                The text model reads the vectors `recctl refresh text` stored; only items without one are encoded. \
                Columns: precision, recall, F1, NDCG, MRR and hit rate at K, catalog coverage, intra-list \
                diversity, novelty, training time; cold = users with at most 3 training interactions.
                """)

        @OptionGroup var options: DatabaseOptions
        @Option(help: "leave-last-out, temporal or cold-items.") var split: String = "leave-last-out"
        @Option(name: .short, help: "List length K.") var k: Int = 10
        @Option(
            help: """
                Comma-separated model expressions of the query language: popularity, itemknn, als, bpr, content, \
                ease, sasrec, text, session, transition, BLEND(als 0.7, content 0.3), CHAIN(als, content, popularity).
                """)
        var models: String = "popularity,itemknn,als,bpr"
        @Option(
            name: .customLong("sessions-test"),
            help: "Next-item evaluation instead: test sessions in session-rec's TSV (SessionId, ItemId, Time); models session, transition.")
        var sessionsTest: String?
        @OptionGroup var parameters: ModelOptions
        @Option(help: "Threads for training and evaluation.") var threads: Int = ProcessInfo.processInfo.activeProcessorCount
        @Flag(help: "Evaluate on the validation part instead of the test part.") var validation = false
        @Option(
            name: .customLong("test-history"),
            help: "What a user's history holds when the test part is scored: with-validation (default) or training-only.")
        var testHistory: Evaluator.TestHistory = .withValidation
        @Option(
            help: """
                Comma-separated stored ALS models to score as they are, without training (factors imported from \
                Spark trained on this split's training part: `recctl export events --split`).
                """)
        var stored: String?

        func run() throws {
            try running(json: options.json) {
                guard let kind = EvaluationSplit.Kind(rawValue: split) else {
                    throw ValidationError("--split must be leave-last-out, temporal or cold-items")
                }
                let specs = try ModelExpression.parseList(models).map { try parameters.spec($0.description) }
                let db = try options.open()
                if let sessionsTest {
                    let results = try db.evaluateSessions(
                        specs, test: try SessionTestSet(path: sessionsTest), k: k, threads: max(1, threads))
                    if options.json {
                        let encoder = JSONEncoder()
                        encoder.outputFormatting = [.sortedKeys]
                        print(String(decoding: try encoder.encode(results), as: UTF8.self))
                        return
                    }
                    print("model        sessions  predictions  HR@\(k)    MRR@\(k)   train s")
                    for r in results {
                        print(r.model.padding(toLength: 12, withPad: " ", startingAt: 0)
                            + String(format: " %8d  %11d  %.4f   %.4f   %.2f", r.sessions, r.predictions, r.hitRate, r.mrr, r.trainingSeconds))
                    }
                    return
                }
                let storedNames = stored.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } } ?? []
                let (splitInfo, rows) = try db.evaluate(
                    specs, stored: storedNames, split: kind, k: k, threads: max(1, threads), onValidation: validation,
                    testHistory: testHistory)
                // Models that are stored remember their latest test-set evaluation (recctl models shows it).
                if !validation {
                    for row in rows where try db.model(row.spec.name) != nil {
                        try db.recordEvaluation(row.result, for: row.spec.name)
                    }
                }
                if options.json {
                    let encoder = JSONEncoder()
                    encoder.outputFormatting = [.sortedKeys]
                    let results = rows.map { row -> [String: Any] in
                        var object = (try? JSONSerialization.jsonObject(with: encoder.encode(row.result))) as? [String: Any] ?? [:]
                        object["training_seconds"] = row.trainingSeconds
                        return object
                    }
                    printJSON([
                        "split": kind.rawValue, "k": k, "test_history": testHistory.rawValue, "test_users": splitInfo.test.count,
                        "skipped_users": splitInfo.skippedUsers, "results": results,
                    ])
                    return
                }
                print("Split \(kind.rawValue): \(formatCount(splitInfo.train.count)) training interactions, "
                    + "\(formatCount(splitInfo.test.count)) test users (\(splitInfo.skippedUsers) skipped: test item seen in training)"
                    + (validation ? "" : "; test histories: \(testHistory == .withValidation ? "training and validation events" : "training events only")"))
                let header = ["model", "P@\(k)", "R@\(k)", "F1@\(k)", "NDCG@\(k)", "MRR@\(k)", "HR@\(k)", "cover", "divers",
                              "novelty", "cold NDCG (users)", "cold-item HR (users)", "train s"]
                let width = max(12, rows.map(\.result.model.count).max() ?? 0)
                print(header.map { $0.padding(toLength: max($0 == "model" ? width : 9, $0.count), withPad: " ", startingAt: 0) }.joined(separator: " "))
                for row in rows {
                    let r = row.result
                    let cells = [
                        r.model, f(r.precision), f(r.recall), f(r.f1), f(r.ndcg), f(r.mrr), f(r.hitRate), f(r.coverage),
                        r.diversity.map(f) ?? "-", String(format: "%.2f", r.novelty),
                        r.coldStart.map { f($0.ndcg) + " (\($0.users))" } ?? "-",
                        r.coldItems.map { f($0.hitRate) + " (\($0.users))" } ?? "-", String(format: "%.2f", row.trainingSeconds),
                    ]
                    print(zip(cells, header).map { $0.0.padding(toLength: max($0.1 == "model" ? width : 9, $0.1.count), withPad: " ", startingAt: 0) }
                        .joined(separator: " "))
                }
            }
        }

        private func f(_ value: Double) -> String { String(format: "%.4f", value) }
    }
}

extension RecCtl {
    struct Tune: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Search a small grid of a model's parameters, ranked by NDCG@K on the validation split.")
        @OptionGroup var options: DatabaseOptions
        @Argument(help: "popularity, itemknn, als, bpr, ease or sasrec") var model: String
        @OptionGroup var parameters: ModelOptions
        @Option(help: "leave-last-out, temporal or cold-items.") var split: String = "leave-last-out"
        @Option(name: .short, help: "List length K.") var k: Int = 10
        @Option(help: "Show this many settings.") var top: Int = 5
        @Option(help: "Threads for training and evaluation.") var threads: Int = ProcessInfo.processInfo.activeProcessorCount

        func run() throws {
            try running(json: options.json) {
                guard let kind = EvaluationSplit.Kind(rawValue: split) else {
                    throw ValidationError("--split must be leave-last-out or temporal")
                }
                let spec = try parameters.spec(model)
                let rows = try options.open().tune(spec, split: kind, k: k, threads: max(1, threads))
                if options.json { return printJSON(rows.map(TuneRows.json)) }
                print("\(rows.count) settings of \(model), ranked by validation NDCG@\(k) (\(kind.rawValue)):")
                for row in rows.prefix(top) { print(TuneRows.line(row)) }
            }
        }
    }
}

/// One scored setting of `recctl tune` and `recctl refresh --tune`, as a line or a JSON object.
enum TuneRows {
    static func line(_ row: ModelEvaluation) -> String {
        String(
            format: "  NDCG %.4f  R %.4f  HR %.4f  %6.2f s  ", row.result.ndcg, row.result.recall, row.result.hitRate,
            row.trainingSeconds) + row.spec.parameterDescription
    }

    static func json(_ row: ModelEvaluation) -> [String: Any] {
        [
            "parameters": row.spec.parameterDescription, "ndcg": row.result.ndcg, "recall": row.result.recall,
            "hit_rate": row.result.hitRate, "training_seconds": row.trainingSeconds,
        ]
    }
}

/// `--test-history with-validation|training-only` (its raw values; anything else is a usage error listing them).
extension Evaluator.TestHistory: ExpressibleByArgument {}
