import ArgumentParser
import Foundation
import RecDB

/// `recctl import model als|itemknn --from DIR`: installs factors (or the item similarities) trained on Spark as the
/// model's next generation.
struct ModelImport {
    let kind: String
    let folder: String?
    let threads: Int
    let options: DatabaseOptions

    func run() throws {
        guard kind == "als" || kind == "itemknn" else {
            throw ValidationError(
                "import model: only 'als' factors and 'itemknn' similarities can be imported (from spark/train_als.py), "
                    + "not '\(kind)'")
        }
        guard let folder else { throw ValidationError("import model \(kind) needs --from DIR (the Spark job's output)") }
        try running(json: options.json) {
            let db = try options.open()
            let json = options.json
            let log: @Sendable (String) -> Void = { line in
                if !json { FileHandle.standardError.write(Data("\(line)\n".utf8)) }
            }
            var counts: [String: Any]
            let report: RefreshReport
            if kind == "itemknn" {
                let similarities = try ImportedSimilarities.read(from: folder)
                if !json {
                    print("Read the similar items of \(formatCount(similarities.itemCount)) items "
                        + "(\(formatCount(similarities.pairCount)) pairs, up to \(similarities.neighbours) each) from \(folder).")
                }
                report = try db.importSimilarities(similarities, progress: log)
                counts = ["items": similarities.itemCount, "pairs": similarities.pairCount,
                    "neighbours": similarities.neighbours]
            } else {
                let factors = try ImportedFactors.read(from: folder)
                if !json {
                    print("Read \(formatCount(factors.userCount)) user and \(formatCount(factors.itemCount)) item vectors "
                        + "of rank \(factors.rank) from \(folder).")
                }
                report = try db.importFactors(factors, threads: threads, progress: log)
                counts = ["users": factors.userCount, "items": factors.itemCount, "rank": factors.rank]
            }
            let record = report.record
            if json {
                counts.merge([
                    "ok": true, "model": record.name, "generation": Int(record.generation), "space": record.space ?? "",
                    "training_seconds": record.trainingSeconds, "seconds": report.seconds,
                ]) { a, _ in a }
                printJSON(counts)
            } else {
                print("Installed \(record.name) generation \(record.generation)"
                    + (record.space.map { " (space \($0))" } ?? "")
                    + " in \(String(format: "%.2f", report.seconds)) s; Spark trained it in "
                    + "\(String(format: "%.2f", record.trainingSeconds)) s.")
            }
        }
    }
}
