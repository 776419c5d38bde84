import Foundation

extension RecDatabase {
    /// Runs the paper's protocol on this database's events, from one read snapshot: the `core`-core of the log,
    /// split per user in time order 80/10/10 (``EvaluationSplit/Kind/perUser``); every model of `settings` trained on
    /// the training part and ranked with full ranking on the test part as `RECOMMEND` ranks (``Evaluator``; by
    /// default the histories hold the validation events too, ``PaperProtocol/testHistory``), once
    /// per seed; HyGenRec (``LearnedBlendModel``) learns its weights on the validation part from the same seed's
    /// trained parts; its ablation drops one part at a time and, last, replaces the learned weights by equal ones.
    /// `progress` hears a line per finished run.
    public func paperReport(
        _ settings: PaperProtocol, dataset: String, progress: ((String) -> Void)? = nil
    ) throws -> PaperReport {
        let started = Date()
        var notes: [String] = []
        // A name is a kind, optionally with its own parameters: `als:augment_weight=0.3` (PaperProtocol.models).
        var overrides: [String: [String: Double]] = [:]
        func resolve(_ name: String) -> ModelSpec? {
            let kind: String, parameters: [String: Double], spec: ModelSpec
            do {
                (kind, parameters) = try PaperProtocol.variant(name)
                spec = try ModelSpec.named(kind)
            } catch {
                notes.append("\(name): skipped, not a model kind of this build (\((error as? RecDBError)?.message ?? "\(error)"))")
                return nil
            }
            do {
                _ = try spec.setting(parameters)
            } catch {
                notes.append("\(name): skipped, \((error as? RecDBError)?.message ?? "\(error)")")
                return nil
            }
            overrides[name] = parameters
            return spec
        }
        let singles = settings.models.compactMap { name in resolve(name).map { (name, $0) } }
        let hybrid = settings.hybridParts.compactMap { name in resolve(name).map { (name, $0) } }
        let every = singles.map(\.1) + hybrid.map(\.1)
        var (log, items, features, catalog, textVectors) = try evaluationSnapshot(
            items: every.contains { $0.needsItems }, text: every.contains { $0.needsText })
        let allEvents = log.count
        log = log.core(settings.core)
        guard log.count > 0 else {
            throw RecDBError(.notFound, "no events left after the \(settings.core)-core filter (\(allEvents) before)")
        }
        let split = EvaluationSplit(log, kind: .perUser)
        let evaluator = Evaluator(
            split: split, k: settings.k, catalogItems: items, itemFeatures: features, sessionGap: sessionGap,
            recallCurve: settings.recallCurve, diversityByFeatures: true, testHistory: settings.testHistory)
        let coreUsers = Set(log.users).count, coreItems = Set(log.items).count
        // Trained models per (name, seed); models without a seed are trained once and reused for every seed.
        var trained: [String: [Int: (model: any Recommender, seconds: Double)]] = [:]
        func model(_ name: String, _ spec: ModelSpec, seed: Int) throws -> (model: any Recommender, seconds: Double)? {
            let parameters = (settings.parameters[spec.name] ?? [:]).merging(overrides[name] ?? [:]) { $1 }
            let seeded = Self.seeded(spec, seed: seed, parameters: parameters)
            let key = seeded.seeded ? seed : 0
            if let done = trained[name]?[key] { return done }
            do {
                try seeded.spec.checkTrainable(on: split.train)
                try seeded.spec.requireTextEncoder()
            } catch {
                if trained[name] == nil {
                    notes.append("\(name): skipped, \((error as? RecDBError)?.message ?? "\(error)")")
                    trained[name] = [:]
                }
                return nil
            }
            let clock = Date()
            let model = seeded.spec.train(
                on: split.train, threads: settings.threads, items: catalog, sessionGap: sessionGap,
                textVectors: textVectors)
            let result = (model, Date().timeIntervalSince(clock))
            trained[name, default: [:]][key] = result
            return result
        }
        var rows: [PaperRow] = []
        for (name, spec) in singles {
            var runs: [PaperMetrics] = []
            for seed in 0..<max(1, settings.seeds) {
                guard let (trainedModel, seconds) = try model(name, spec, seed: seed) else { break }
                if seed > 0, !Self.seeded(spec, seed: seed, parameters: [:]).seeded { break }
                let result = evaluator.evaluate(trainedModel, onValidation: settings.onValidation, threads: settings.threads)
                runs.append(PaperMetrics(result, trainingSeconds: seconds))
                progress?("\(name) seed \(seed): NDCG@\(settings.k) \(String(format: "%.4f", result.ndcg)), \(String(format: "%.1f", seconds)) s")
            }
            if !runs.isEmpty { rows.append(PaperRow(model: name, group: "model", runs: runs)) }
        }
        // HyGenRec and its ablation, seed by seed from the same trained parts.
        func spec(of name: String) -> ModelSpec { hybrid.first { $0.0 == name }!.1 }
        var hybridRows: [String: PaperRow] = [:]
        var order: [String] = []
        for seed in 0..<max(1, settings.seeds) {
            var parts: [(name: String, model: any Recommender, seconds: Double)] = []
            for (name, spec) in hybrid {
                if let (m, s) = try model(name, spec, seed: seed) { parts.append((name, m, s)) }
            }
            guard !parts.isEmpty else {
                notes.append("hygenrec: no part could be trained")
                break
            }
            var variants: [(name: String, group: String, parts: [(name: String, model: any Recommender, seconds: Double)], learned: Bool)] = [
                ("hygenrec", "hybrid", parts, true)
            ]
            if parts.count > 1 {
                for part in parts {
                    variants.append(("hygenrec without \(part.name)", "ablation", parts.filter { $0.name != part.name }, true))
                }
            }
            // Without the GAN: every part trained with CFGAN-synthesised interactions replaced by its kind trained
            // without them (the same name's parameters, augmentation off).
            var plain = parts
            for (index, part) in parts.enumerated() where (overrides[part.name]?["augment_weight"] ?? 0) > 0 {
                let kept = (overrides[part.name] ?? [:]).filter { !$0.key.hasPrefix("augment_") }
                let name = PaperProtocol.variantName(kind: spec(of: part.name).name, parameters: kept)
                overrides[name] = kept
                guard let (m, s) = try model(name, spec(of: part.name), seed: seed) else { continue }
                plain[index] = (name, m, s)
            }
            if plain.map(\.name) != parts.map(\.name) {
                variants.append(("hygenrec without gan", "ablation", plain, true))
            }
            variants.append(("hygenrec with equal weights", "ablation", parts, false))
            for variant in variants {
                let clock = Date()
                let blender =
                    variant.learned
                    ? LearnedBlendModel.fit(
                        name: variant.name, parts: variant.parts.map(\.model), partNames: variant.parts.map(\.name),
                        evaluator: evaluator, maxUsers: settings.blenderUsers)
                    : LearnedBlendModel(
                        name: variant.name, parts: variant.parts.map(\.model), partNames: variant.parts.map(\.name),
                        warmWeights: variant.parts.map { _ in 1 }, coldWeights: variant.parts.map { _ in 1 })
                let seconds = Date().timeIntervalSince(clock) + variant.parts.reduce(0) { $0 + $1.seconds }
                let result = evaluator.evaluate(blender, onValidation: settings.onValidation, threads: settings.threads)
                if hybridRows[variant.name] == nil {
                    order.append(variant.name)
                    hybridRows[variant.name] = PaperRow(model: variant.name, group: variant.group, runs: [])
                }
                hybridRows[variant.name]?.runs.append(PaperMetrics(result, trainingSeconds: seconds))
                hybridRows[variant.name]?.expressions.append(
                    "seed \(seed): warm \(blender.expression(cold: false)); cold \(blender.expression(cold: true))")
                progress?("\(variant.name) seed \(seed): NDCG@\(settings.k) \(String(format: "%.4f", result.ndcg))")
            }
        }
        rows += order.compactMap { hybridRows[$0] }
        let description = """
            \(settings.core)-core (users and items with ≥ \(settings.core) interactions, repeated until stable); \
            per-user chronological 80/10/10 split (each user's first 80 % of interactions train, next 10 % \
            validate, last 10 %, at least one, test); models trained on the training part; \
            \(settings.onValidation || settings.testHistory == .trainingOnly
                ? "histories of training events only"
                : "at test, histories of training and validation events (the standard protocol)"); full ranking \
            over every item the user has not met in their history; P, R, NDCG, HR at \(settings.k); diversity = 1 − mean pairwise Jaccard similarity of the \
            items' category and tag sets; novelty = mean −log2 of an item's share of training users; cold users = \
            ≤ \(LearnedBlendModel.coldLimit) training interactions; cold items = held-out items with no training \
            interaction; \(settings.seeds) seed(s) per model (seed 42 + s; models without a seed run once); \
            HyGenRec's weights learned on the validation part only.
            """ + (settings.onValidation
                ? " Scored on the validation part (for choosing settings): HyGenRec's weights are then fit in-sample."
                : "")
        return PaperReport(
            dataset: dataset, protocolDescription: description, k: settings.k, recallCurve: evaluator.recallCurve,
            counts: [
                "events_before_core": allEvents, "events": log.count, "users": coreUsers, "items": coreItems,
                "train_events": split.train.count, "validation_users": split.validation.count,
                "test_users": split.test.count,
            ],
            rows: rows, notes: notes, seconds: Date().timeIntervalSince(started))
    }

    /// `spec` with `parameters` set and, when its kind has a `seed` parameter, seed 42 + `seed`; `seeded` tells
    /// whether the kind had one.
    static func seeded(_ spec: ModelSpec, seed: Int, parameters: [String: Double]) -> (spec: ModelSpec, seeded: Bool) {
        guard let stored = spec.stored else { return (spec, false) }
        var table = stored.parameterTable
        for (name, value) in parameters where table[name] != nil { table[name] = value }
        let hasSeed = table["seed"] != nil
        if hasSeed { table["seed"] = Double(42 + seed) }
        return (type(of: stored).spec(parameterTable: table), hasSeed)
    }
}
