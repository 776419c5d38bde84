import ArgumentParser
import Foundation
import RecDB

#if canImport(Glibc)
import Glibc
#endif

extension RecCtl {
    struct Vectors: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create embedding spaces, import vectors and search them.",
            subcommands: [Create.self, List.self, Drop.self, ImportFile.self, Search.self])
    }
}

extension VectorKind: ExpressibleByArgument {
    /// Parses `items`/`item` or `users`/`user` as given to `--kind`; nil (a usage error) for anything else.
    public init?(argument: String) {
        switch argument {
        case "items", "item": self = .items
        case "users", "user": self = .users
        default: return nil
        }
    }
}

extension RecCtl.Vectors {
    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create an embedding space.")
        @OptionGroup var options: DatabaseOptions
        @Argument(help: "The space's name.") var space: String
        @Option(name: .customLong("dim"), help: "The dimension of its vectors.") var dimension: Int
        @Option(help: "cosine, ip (inner product) or l2.") var metric: String = "cosine"
        @Option(help: "HNSW links per node above level 0 (level 0 gets twice as many).") var m: Int = 16
        @Option(help: "HNSW candidate list size while building.") var efConstruction: Int = 200
        @Option(help: "Default candidate list size while searching.") var ef: Int = 64
        @Option(
            help: "What graph walks score: float32, or int8 / float16 codes re-ranked exactly (1/4 or 1/2 the bytes).")
        var codes: String = "float32"

        func run() throws {
            try running(json: options.json) {
                guard let metric = Metric(name: metric) else {
                    throw ValidationError("--metric must be cosine, ip or l2, not '\(self.metric)'")
                }
                guard let codes = VectorCodes(name: codes) else {
                    throw ValidationError("--codes must be float32, int8 or float16, not '\(self.codes)'")
                }
                let db = try options.open()
                let space = try db.createSpace(
                    self.space, dimension: dimension, metric: metric,
                    parameters: HNSWParameters(m: m, efConstruction: efConstruction, ef: ef, codes: codes))
                if options.json {
                    printJSON(["ok": true, "space": space.name, "dimension": space.dimension, "metric": space.metric.rawValue])
                } else {
                    print("Created space \(space.name): \(space.dimension) dimensions, \(space.metric.rawValue).")
                }
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the embedding spaces.")
        @OptionGroup var options: DatabaseOptions

        func run() throws {
            try running(json: options.json) {
                let db = try options.open()
                let rows = try db.spaces().map { space -> [String: Any] in
                    let counts = try db.read { r in
                        (try r.vectorCount(space: space.name, .items), try r.vectorCount(space: space.name, .users))
                    }
                    return [
                        "space": space.name, "dimension": space.dimension, "metric": space.metric.rawValue,
                        "item_vectors": counts.0, "user_vectors": counts.1,
                        "item_generation": Int(space.generation(.items)), "user_generation": Int(space.generation(.users)),
                    ]
                }
                if options.json { return printJSON(rows) }
                if rows.isEmpty { print("No embedding spaces.") }
                for row in rows {
                    print(
                        "\(row["space"]!)  \(row["dimension"]!)-d \(row["metric"]!)  items \(formatCount(row["item_vectors"] as! Int))"
                            + " (index generation \(row["item_generation"]!))  users \(formatCount(row["user_vectors"] as! Int))")
                }
            }
        }
    }

    struct Drop: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a space with its vectors and index.")
        @OptionGroup var options: DatabaseOptions
        @Argument var space: String

        func run() throws {
            try running(json: options.json) {
                try options.open().dropSpace(space)
                if options.json { printJSON(["ok": true]) } else { print("Dropped space \(space).") }
            }
        }
    }

    struct ImportFile: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "import",
            abstract: "Import vectors from .fvecs, .npy (float32/float64) or CSV with an id column.",
            discussion: "Rows of .fvecs and .npy files stand for ids \"0\", \"1\", … in order.")
        @OptionGroup var options: DatabaseOptions
        @Argument var space: String
        @Argument var file: String
        @Option(help: "items or users") var kind: VectorKind = .items
        @Flag(help: "Create items or users that do not exist yet.") var createMissing = false
        @Option(help: "Rows per write transaction.") var batchSize: Int = 10_000

        func run() throws {
            try running(json: options.json) {
                let db = try options.open()
                let bar = !options.json && isatty(STDERR_FILENO) != 0
                let report = try db.importVectors(
                    space: space, kind: kind, from: try VectorFile(path: file), createMissing: createMissing,
                    batchSize: batchSize
                ) { rows in
                    if bar { FileHandle.standardError.write(Data("\r\(formatCount(rows)) vectors".utf8)) }
                }
                if bar { FileHandle.standardError.write(Data("\n".utf8)) }
                if options.json {
                    printJSON(["ok": true, "rows": report.rows, "created": report.created, "seconds": report.seconds])
                } else {
                    print(
                        "Imported \(formatCount(report.rows)) vectors into \(space) (\(formatCount(report.created)) "
                            + "\(kind) created) in \(String(format: "%.2f", report.seconds)) s.")
                }
            }
        }
    }

    struct Search: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Find the nearest items (or users) to an item's vector or to a given vector.")
        @OptionGroup var options: DatabaseOptions
        @Argument var space: String
        @Option(help: "Search near this item's (or user's) vector.") var id: String?
        @Option(help: "Search near this vector: comma-separated numbers.") var vector: String?
        @Option(name: .short, help: "How many results.") var k: Int = 10
        @Option(help: "Candidate list size (default: the space's).") var ef: Int?
        @Option(help: "With int8 or float16 codes: how many of the walk's best are re-ranked exactly (default max(2k, 20)).")
        var rerank: Int?
        @Option(help: "items or users") var kind: VectorKind = .items
        @Option(help: "Item filter: a WHERE expression such as \"category = 'Books' AND price < 20\" (repeat to AND).")
        var `where`: [String] = []

        func validate() throws {
            guard (id == nil) != (vector == nil) else { throw ValidationError("give exactly one of --id and --vector") }
            guard k > 0 else { throw ValidationError("-k must be positive") }
        }

        func run() throws {
            try running(json: options.json) {
                let db = try options.open()
                let predicates = try self.where.map { try ItemPredicate.parse($0) }
                let rows: [[String: Any]] = try db.read { r in
                    let allowed = predicates.isEmpty ? nil : try r.items(matching: .and(predicates))
                    let matches: [VectorMatch]
                    var own: UInt32?
                    if let id {
                        guard let query = try r.vector(space: space, kind, id: id) else {
                            throw RecDBError(.notFound, "'\(id)' has no vector in space '\(space)'")
                        }
                        own = kind == .items ? try r.itemID(for: id) : try r.userID(for: id)
                        var set = allowed
                        if let own { set?.remove(own) }
                        matches = try r.nearest(in: space, to: query, k: k + 1, ef: ef, rerank: rerank, kind: kind, allowed: set)
                            .filter { $0.node != own }.prefix(k).map { $0 }
                    } else {
                        let values = try vector!.split(separator: ",").map { text -> Float in
                            guard let value = Float(String(text).trimmingCharacters(in: .whitespaces)) else {
                                throw RecDBError(.invalidArgument, "--vector: '\(text)' is not a number")
                            }
                            return value
                        }
                        matches = try r.nearest(
                            in: space, to: values, k: k, ef: ef, rerank: rerank, kind: kind, allowed: allowed)
                    }
                    return try matches.map { match in
                        var row: [String: Any] = ["score": Double(match.score)]
                        if kind == .items {
                            let item = try r.item(internalID: match.node)
                            row["id"] = item?.id ?? "#\(match.node)"
                            if let title = item?.title { row["title"] = title }
                        } else {
                            row["id"] = try r.externalUserID(match.node) ?? "#\(match.node)"
                        }
                        return row
                    }
                }
                if options.json { return printJSON(rows) }
                for (rank, row) in rows.enumerated() {
                    let title = (row["title"] as? String).map { "  \($0)" } ?? ""
                    let id = String(describing: row["id"]!).padding(toLength: 12, withPad: " ", startingAt: 0)
                    print(String(format: "%3d  ", rank + 1) + id + String(format: " %9.4f", row["score"] as! Double) + title)
                }
            }
        }
    }
}
