import Foundation
import Testing

@testable import RecDB

@Suite("Backup")
struct BackupTests {
    @Test func backupIsConsistentCopy() throws {
        try TemporaryDirectory.with { folder in
            let copyPath = folder.appending("copy")
            let counts: CatalogCounts
            let history: [HistoryEntry]
            do {
                let db = try folder.createDatabase()
                try db.write { w in
                    for index in 0..<50 {
                        try w.upsertItem(
                            "i\(index)",
                            attributes: [
                                "category": .string("Books/Shelf\(index % 5)"), "price": .number(Double(index)),
                            ]
                        )
                    }
                    for index in 0..<200 {
                        let session = index % 3 == 0 ? "s\(index % 7)" : nil
                        try w.addEvent(
                            EventInput(
                                "u\(index % 10)",
                                index % 4 == 0 ? "cart" : "view",
                                "i\(index % 50)",
                                at: Int64(index),
                                session: session
                            )
                        )
                    }
                }
                counts = try CatalogCounts.of(db)
                history = try db.read { r throws in try r.history(ofUser: "u3") }
                try db.backup(to: copyPath)

                // Writes after the backup do not reach the copy.
                try db.write { w in _ = try w.addEvent(EventInput("late", "purchase", "i0", at: 500)) }
                #expect(try CatalogCounts.of(db) != counts)
                expectRecDBError(.alreadyExists) { try db.backup(to: copyPath) }
            }

            let copy = try RecDatabase.open(at: copyPath, create: false)
            #expect(try CatalogCounts.of(copy) == counts)
            try copy.read { r throws in
                #expect(try r.history(ofUser: "u3") == history)
                #expect(try r.user("late") == nil)
                #expect(try r.items(inCategory: "Books").count == 50)
                #expect(try r.item("i7")?.price == 7)
                #expect(try r.sessionCount() > r.explicitSessionCount)
            }
        }
    }
}
