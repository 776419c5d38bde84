import Foundation
import Testing

@testable import RecDB

/// `Schemas/storage-layout.md` against a populated database: every named database, `meta` key, model part and
/// index part the engine writes is documented, and every database the document names exists.
@Suite("Storage layout document")
struct StorageLayoutDocumentTests {
    /// The layout document, as lines.
    static func document() throws -> String {
        let here = URL(fileURLWithPath: #filePath)
        let root = here.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        return try String(contentsOf: root.appending(path: "Schemas/storage-layout.md"), encoding: .utf8)
    }

    /// The back-quoted words of `text`.
    static func quoted(_ text: Substring) -> [String] {
        text.split(separator: "`", omittingEmptySubsequences: false).enumerated().filter { $0.offset % 2 == 1 }
            .map { String($0.element) }
    }

    /// Table rows of the document as cells, for tables whose header's first cell is `header`.
    static func rows(of document: String, header: String) -> [[Substring]] {
        var rows: [[Substring]] = []
        var inTable = false
        for line in document.split(separator: "\n", omittingEmptySubsequences: false) {
            guard line.hasPrefix("|") else {
                inTable = false
                continue
            }
            let cells = line.split(separator: "|", omittingEmptySubsequences: false).dropFirst().dropLast()
                .map { $0.trimmingCharacters(in: .whitespaces)[...] }
            if cells.first == header[...] {
                inTable = true
            } else if inTable, !(cells.first?.hasPrefix("---") ?? true) {
                rows.append(cells)
            }
        }
        return rows
    }

    /// A database with something in every table: items with categories, tags and prices, users, events with and
    /// without sessions, an event type, a vector space with an index, and one model of each kind that needs no
    /// model files.
    static func populatedDatabase(_ folder: TemporaryDirectory) throws -> RecDatabase {
        var options = RecDatabase.Options()
        options.storage.noSync = true
        let db = try folder.createDatabase(options: options)
        try db.defineEventType(EventType(name: "purchase", weight: 3))
        try db.createSpace("images", dimension: 4, metric: .cosine)
        try db.write { w in
            for item in 0..<40 {
                try w.upsertItem(
                    "i\(item)",
                    attributes: [
                        "title": .string("Walking boots number \(item) in leather"),
                        "category": .string(item % 2 == 0 ? "Shoes/Boots" : "Shoes/Sandals"),
                        "tags": .strings(["outdoor", "size\(item % 3)"]), "price": .number(Double(10 + item)),
                    ])
                try w.setVector([Float(item), 1, Float(item % 5), 2], space: "images", item: "i\(item)")
            }
            for user in 0..<30 {
                try w.upsertUser("u\(user)", attributes: ["age": .number(Double(20 + user))])
                for n in 0..<8 {
                    let time = Timestamp(milliseconds: 1_700_000_000_000 + Int64(user * 1_000 + n) * 60_000)
                    try w.addEvent(
                        EventInput(
                            user: "u\(user)", item: "i\((user * 3 + n * 7) % 40)", type: n == 7 ? "purchase" : "view",
                            timestamp: time, session: n < 4 ? "s\(user)" : nil))
                }
            }
        }
        try db.buildIndex(space: "images", threads: 1)
        var als = ALSModel.Parameters()
        als.factors = 4
        als.iterations = 2
        var bpr = BPRModel.Parameters()
        bpr.factors = 4
        bpr.iterations = 2
        var sasrec = SASRecModel.Parameters()
        sasrec.dimension = 8
        sasrec.blocks = 1
        sasrec.epochs = 1
        let specs: [ModelSpec] = [
            .popularity(halfLifeDays: 30), .itemKNN(neighbours: 10), .als(als), .bpr(bpr),
            .content(ContentModel.Parameters()), .session(SessionKNNModel.Parameters()), .transition, .sasrec(sasrec),
        ]
        for spec in specs { try db.refresh(spec, threads: 1) }
        return db
    }

    @Test func everyDatabaseMetaKeyAndPartIsDocumented() throws {
        let document = try Self.document()
        try TemporaryDirectory.with { folder in
            let db = try Self.populatedDatabase(folder)

            // Named databases: those in the file and those the tables of the document name agree.
            let documented = Set(Self.rows(of: document, header: "database").compactMap { Self.quoted($0[0]).first })
            let inFile = Set(try FileVerifier.verify(folder.appending("db")).databases)
            #expect(inFile.subtracting(documented).isEmpty, "databases missing from storage-layout.md")
            #expect(documented.subtracting(inFile).isEmpty, "storage-layout.md documents databases the file lacks")

            // `meta` keys: each is quoted in the `meta` row, whole or up to its variable part.
            let metaRow = Self.rows(of: document, header: "database").first { Self.quoted($0[0]).first == "meta" }
            let metaKeys = Set(metaRow.map { Self.quoted($0.joined(separator: "|")[...]) } ?? [])
            var keys: [String] = []
            try db.read { r in
                try db.schema.meta.scanRaw(in: r.txn) { key, _ in
                    keys.append(String(decoding: key, as: UTF8.self))
                    return .next
                }
            }
            for key in keys {
                let stem = key.prefix { $0 != "." && $0 != ":" }
                let documentedKey =
                    metaKeys.contains(key)
                    || metaKeys.contains { $0.hasSuffix(".") || $0.hasSuffix(":") ? key.hasPrefix($0) : false }
                    || (metaKeys.contains("\(stem).item") && key.hasPrefix("\(stem)."))
                #expect(documentedKey, "meta key '\(key)' is not in storage-layout.md")
            }

            // Model parts: the part table has a row for each (part, model kind) the models wrote.
            // Columns: part, name, model(s), value.
            let partRows = Self.rows(of: document, header: "part").map { row in
                (part: Int(row[0]) ?? -1, models: row[2].lowercased().filter { $0.isLetter || $0 == "," })
            }
            var kinds: [String: String] = [:]
            for record in try db.models() { kinds[record.name] = record.kind.rawValue }
            var written = Set<String>()
            try db.read { r in
                try db.modelSchema.data.scanRaw(in: r.txn) { key, _ in
                    var reader = BinaryReader(key)
                    let name = try reader.readString()
                    _ = try reader.readUInt32()
                    let part = try reader.readUInt8()
                    written.insert("\(part) \(kinds[name] ?? name)")
                    return .next
                }
            }
            #expect(!written.isEmpty)
            for entry in written {
                let fields = entry.split(separator: " ")
                let part = Int(fields[0])!, kind = String(fields[1])
                #expect(
                    partRows.contains { $0.part == part && $0.models.split(separator: ",").contains { $0 == kind } },
                    "model part \(part) of '\(kind)' is not in storage-layout.md's part table")
            }

            // Index parts: each part byte of the `ann` keys is listed under "Parts of a generation".
            let generationParts = document.components(separatedBy: "Parts of a generation").dropFirst().first ?? ""
            let listedParts = Set(
                generationParts.split(separator: "\n").prefix { !$0.isEmpty }.flatMap { Self.quoted($0) }
                    .compactMap { Int($0) })
            var annParts = Set<Int>()
            try db.read { r in
                try db.vectorSchema.ann.scanRaw(in: r.txn) { key, _ in
                    if key.count > 7 { annParts.insert(Int(key[7])) }
                    return .next
                }
            }
            #expect(!annParts.isEmpty)
            #expect(annParts.subtracting(listedParts).isEmpty, "index parts missing from storage-layout.md")
        }
    }
}
