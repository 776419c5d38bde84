import Foundation
import Testing

@testable import RecDB

@Suite("Import: Amazon (LC-Rec layout)")
struct AmazonImportTests {
    static let items = """
        {
            "0": {
                "title": "Spiral Notebook",
                "description": "",
                "brand": "Acme",
                "categories": "Office Products, Paper, Notebooks"
            },
            "1": {
                "title": "Gel Pen",
                "description": "Smooth ink",
                "brand": "",
                "categories": "Office Products, Pens/Pencils"
            },
            "10": {
                "title": "Stapler",
                "description": "",
                "brand": "Acme",
                "categories": "Office Products"
            }
        }

        """

    static let interactions = """
        {
            "0": [0, 1],
            "1": [10, 0, 1]
        }

        """

    @Test func itemsAndSequencesImportWithCategoryPaths() throws {
        try TemporaryDirectory.with { folder in
            // The item file is gzipped, as in the published data set.
            try folder.gzip(folder.write("office/Office.item.json", Self.items))
            try folder.write("office/Office.inter.json", Self.interactions)
            let db = try folder.createDatabase()
            let report = try importFile("amazon", folder.appending("office"), into: db)
            #expect(report.rowsImported == 8)

            try db.read { r throws in
                #expect(try r.itemCount == 3)
                #expect(try r.userCount == 2)
                #expect(try r.eventCountsByType() == ["purchase": 5])

                // "A, B, C" becomes the path A/B/C; a '/' inside a segment is not a separator.
                #expect(
                    try r.item("0")?.attributes == [
                        "title": .string("Spiral Notebook"), "brand": .string("Acme"),
                        "category": .string("Office Products/Paper/Notebooks"),
                    ])
                #expect(
                    try r.item("1")?.attributes == [
                        "title": .string("Gel Pen"), "description": .string("Smooth ink"),
                        "category": .string("Office Products/Pens-Pencils"),
                    ])
                #expect(try r.externalItemIDs(r.items(inCategory: "Office Products")) == ["0", "1", "10"])
                #expect(try r.externalItemIDs(r.items(inCategory: "Office Products/Paper")) == ["0"])

                // Sequences keep their order, one second apart from 2018-01-01.
                let base = millis("2018-01-01T00:00:00Z")
                #expect(
                    try r.storedEvents(ofUser: "1") == [
                        StoredEvent(user: "1", item: "10", type: "purchase", value: 1, time: base),
                        StoredEvent(user: "1", item: "0", type: "purchase", value: 1, time: base + 1000),
                        StoredEvent(user: "1", item: "1", type: "purchase", value: 1, time: base + 2000),
                    ])
            }
            try expectConsistent(db)
        }
    }

    @Test func truncatedJSONStopsBeforeWritingAnything() throws {
        try TemporaryDirectory.with { folder in
            let path = try folder.write("Shop.inter.json", String(Self.interactions.prefix(20)))
            let db = try folder.createDatabase()
            let stopped = expectImportStopped(.malformedInput, at: path) { try importFile("amazon", path, into: db) }
            #expect(stopped?.error.message.contains("not valid JSON") == true)
            #expect(try db.read { r in try r.eventCount } == 0)
            try expectConsistent(db)
        }
    }
}
