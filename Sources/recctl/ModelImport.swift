import ArgumentParser
import Foundation
import RecDB

/// `recctl import model als --from DIR`: installs factors trained on Spark as the model's next generation.
struct ModelImport {
    let kind: String
    let folder: String?
    let threads: Int
    let options: DatabaseOptions

    func run() throws {
        guard kind == "als" else {
            throw ValidationError("import model: only 'als' factors can be imported (from spark/train_als.py), not '\(kind)'")
        }
        guard let folder else { throw ValidationError("import model als needs --from DIR (the Spark job's output)") }
        try running(json: options.json) {
            let db = try options.open()
            let factors = try ImportedFactors.read(from: folder)
            let json = options.json
            if !json {
                print("Read \(formatCount(factors.userCount)) user and \(formatCount(factors.itemCount)) item vectors "
                    + "of rank \(factors.rank) from \(folder).")
            }
            let report = try db.importFactors(factors, threads: threads) { line in
                if !json { FileHandle.standardError.write(Data("\(line)\n".utf8)) }
            }
            let record = report.record
            if json {
                printJSON([
                    "ok": true, "model": record.name, "generation": Int(record.generation), "space": record.space ?? "",
                    "users": factors.userCount, "items": factors.itemCount, "rank": factors.rank,
                    "training_seconds": record.trainingSeconds, "seconds": report.seconds,
                ])
            } else {
                print("Installed \(record.name) generation \(record.generation) (space \(record.space ?? "-")) "
                    + "in \(String(format: "%.2f", report.seconds)) s; Spark trained it in "
                    + "\(String(format: "%.2f", record.trainingSeconds)) s.")
            }
        }
    }
}
