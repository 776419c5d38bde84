import Foundation

/// Writes a folder in the layout of `spark/train_als.py`'s output (`model.json`, `user_factors/` and
/// `item_factors/` of Spark JSON lines with `_SUCCESS`), for tests of `recctl import model als` without Spark.
public enum SparkFactorsFixture {
    /// Writes `folder` with these rows, one `part-00000.json` per side; `lines` replaces the item file's text when
    /// given (to test malformed input), and `success: false` leaves out the item side's `_SUCCESS`.
    public static func write(
        to folder: String, rank: Int, users: [(id: String, vector: [Float])], items: [(id: String, vector: [Float])],
        itemLines: String? = nil, success: Bool = true, trainingSeconds: Double = 1.5, lastEventSequence: UInt64? = nil
    ) throws {
        let files = FileManager.default
        var meta: [String: Any] = [
            "format": "recdb-spark-als", "version": 1, "rank": rank, "reg_param": 0.05, "alpha": 2.0,
            "max_iter": 7, "seed": 3, "training_seconds": trainingSeconds, "events": 46,
        ]
        if let lastEventSequence { meta["last_event_sequence"] = lastEventSequence }
        try files.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try JSONSerialization.data(withJSONObject: meta).write(to: URL(fileURLWithPath: folder + "/model.json"))
        func text(_ rows: [(id: String, vector: [Float])]) throws -> String {
            try rows.map { row in
                let object: [String: Any] = ["id": row.id, "features": row.vector.map(Double.init)]
                return String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self)
            }.joined(separator: "\n") + "\n"
        }
        for (side, body, marker) in [
            ("user_factors", try text(users), true), ("item_factors", try itemLines ?? text(items), success),
        ] {
            let sideFolder = folder + "/" + side
            try files.createDirectory(atPath: sideFolder, withIntermediateDirectories: true)
            try Data(body.utf8).write(to: URL(fileURLWithPath: sideFolder + "/part-00000-0c1d.json"))
            if marker { _ = files.createFile(atPath: sideFolder + "/_SUCCESS", contents: Data()) }
        }
    }
}
