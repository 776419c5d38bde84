import ArgumentParser
import Foundation
import RecDB

#if canImport(Glibc)
import Glibc
#endif

extension RecCtl {
    struct Index: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Build, inspect and check the HNSW index of an embedding space.",
            subcommands: [Build.self, Stats.self, Check.self])
    }
}

extension RecCtl.Index {
    struct Build: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Build a new index generation from the space's vectors and switch to it; searches go on meanwhile.")
        @OptionGroup var options: DatabaseOptions
        @Argument var space: String
        @Option(help: "items or users") var kind: VectorKind = .items
        @Option(help: "Threads for the build.") var threads: Int = ProcessInfo.processInfo.activeProcessorCount

        func run() throws {
            try running(json: options.json) {
                let db = try options.open()
                let bar = !options.json && isatty(STDERR_FILENO) != 0
                let report = try db.buildIndex(space: space, kind: kind, threads: max(1, threads)) { fraction in
                    if bar { FileHandle.standardError.write(Data(String(format: "\rlinking %3.0f%%", fraction * 100).utf8)) }
                }
                if bar { FileHandle.standardError.write(Data("\n".utf8)) }
                if options.json {
                    printJSON([
                        "ok": true, "space": space, "generation": Int(report.generation), "nodes": report.nodes,
                        "seconds": report.seconds, "bytes": report.bytes,
                    ])
                } else {
                    print(
                        "Built generation \(report.generation) of \(space) (\(kind)): \(formatCount(report.nodes)) nodes in "
                            + "\(String(format: "%.2f", report.seconds)) s, \(formatBytes(report.bytes)).")
                }
            }
        }
    }

    struct Stats: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a space's index: generation, nodes, pending changes.")
        @OptionGroup var options: DatabaseOptions
        @Argument var space: String
        @Option(help: "items or users") var kind: VectorKind = .items

        func run() throws {
            try running(json: options.json) {
                let stats = try options.open().indexStats(space: space, kind: kind)
                let p = stats.space.parameters
                if options.json {
                    var object: [String: Any] = [
                        "space": space, "kind": kind.description, "dimension": stats.space.dimension,
                        "metric": stats.space.metric.rawValue, "vectors": stats.vectors, "generation": Int(stats.generation),
                        "indexed": stats.indexedNodes, "pending": stats.pending, "tombstones": stats.tombstones,
                        "max_level": stats.maxLevel, "bytes": stats.bytes, "m": p.m, "m0": p.m0,
                        "ef_construction": p.efConstruction, "ef": p.ef, "codes": p.codes.rawValue,
                    ]
                    if let built = stats.builtAt { object["built_at"] = built.description }
                    if let seconds = stats.buildSeconds { object["build_seconds"] = seconds }
                    return printJSON(object)
                }
                print("Space       \(space) (\(kind)), \(stats.space.dimension)-d \(stats.space.metric.rawValue)")
                print("Vectors     \(formatCount(stats.vectors))")
                if stats.generation == 0 {
                    print("Index       none yet: searches scan exactly (build one with `recctl index build \(space)`)")
                    return
                }
                print("Generation  \(stats.generation), built \(stats.builtAt?.description ?? "?") in "
                    + String(format: "%.2f s", stats.buildSeconds ?? 0))
                print("Indexed     \(formatCount(stats.indexedNodes)) nodes, top level \(stats.maxLevel), \(formatBytes(stats.bytes))")
                print("Pending     \(formatCount(stats.pending)) changes not in the graph yet (searched exactly)")
                print("Parameters  M \(p.m), M0 \(p.m0), efConstruction \(p.efConstruction), ef \(p.ef), codes \(p.codes.rawValue)")
            }
        }
    }

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Verify the graph: links point at live nodes, degrees within bounds, entry point on the top level.",
            discussion: "Exits 0 when sound, 1 with the list of problems otherwise.")
        @OptionGroup var options: DatabaseOptions
        @Argument var space: String
        @Option(help: "items or users") var kind: VectorKind = .items

        func run() throws {
            var failed = false
            try running(json: options.json) {
                let report = try options.open().checkIndex(space: space, kind: kind)
                failed = !report.problems.isEmpty
                if options.json {
                    printJSON([
                        "ok": !failed, "nodes": report.nodes, "unreachable": report.unreachable,
                        "problems": report.problems.map(\.message),
                    ])
                } else if failed {
                    print("\(report.problems.count) problem(s) in the index of \(space):")
                    for problem in report.problems { print("  \(problem.message)") }
                } else {
                    print("OK: \(formatCount(report.nodes)) nodes; \(report.unreachable) not reachable from the entry point.")
                }
            }
            if failed { throw ExitCode.failure }
        }
    }
}
