import Foundation
import Testing

@testable import RecDB

@Suite("Import: generic csv, tsv and jsonl")
struct GenericImportTests {
    @Test func csvEventsWithMappedColumnsAndADefaultType() throws {
        try TemporaryDirectory.with { folder in
            let path = try folder.write(
                "orders.csv",
                """
                customer,sku,ts,qty
                c1,s1,2024-01-02T03:04:05Z,2
                c2,s1,2024-01-03 00:00:00,1
                c1,s2,2024-01-04T10:00:00+02:00,3

                """)
            let map = try FieldMap(
                kind: .events, mappings: ["user=customer", "item=sku", "time=ts", "value=qty:number"],
                defaultEventType: "purchase", timeUnit: "iso")
            let db = try folder.createDatabase()
            #expect(try importFile("csv", path, into: db, map: map).rowsImported == 3)
            try db.read { r throws in
                #expect(
                    try r.storedEvents(ofUser: "c1") == [
                        StoredEvent(
                            user: "c1", item: "s1", type: "purchase", value: 2, time: millis("2024-01-02T03:04:05Z")),
                        StoredEvent(
                            user: "c1", item: "s2", type: "purchase", value: 3, time: millis("2024-01-04T08:00:00Z")),
                    ])
                #expect(try r.storedEvents(ofUser: "c2").map(\.time) == [millis("2024-01-03T00:00:00Z")])
            }
            try expectConsistent(db)
        }
    }

    @Test func csvItemsWithTypedMappingsAndExtraColumns() throws {
        try TemporaryDirectory.with { folder in
            let path = try folder.write(
                "products.csv",
                """
                sku,name,cost,labels,color,grams,in_stock
                s1,Mug,3.50,kitchen|gift,blue,350,yes
                s2,"Kettle, steel",20,kitchen,,1200,no

                """)
            let map = try FieldMap(
                kind: .items,
                mappings: [
                    "id=sku", "title=name", "price=cost:number", "tags=labels", "weight=grams:number",
                    "available=in_stock:bool",
                ])
            let db = try folder.createDatabase()
            #expect(try importFile("csv", path, into: db, map: map).rowsImported == 2)
            try db.read { r throws in
                // Mapped well-known attributes get their types; unmapped columns become strings; empty ones nothing.
                #expect(
                    try r.item("s1")?.attributes == [
                        "title": .string("Mug"), "price": .number(3.5), "tags": .strings(["kitchen", "gift"]),
                        "color": .string("blue"), "weight": .number(350), "available": .bool(true),
                    ])
                #expect(
                    try r.item("s2")?.attributes == [
                        "title": .string("Kettle, steel"), "price": .number(20), "tags": .strings(["kitchen"]),
                        "weight": .number(1200), "available": .bool(false),
                    ])
                #expect(try r.externalItemIDs(r.items(withTag: "kitchen")) == ["s1", "s2"])
            }
            try expectConsistent(db)
        }
    }

    @Test func mappedValueOfTheWrongTypeRejectsTheRow() throws {
        try TemporaryDirectory.with { folder in
            let path = try folder.write(
                "products.csv",
                """
                sku,cost
                s1,3.50
                s2,about five

                """)
            let map = try FieldMap(kind: .items, mappings: ["id=sku", "price=cost:number"])
            let db = try folder.createDatabase()
            let stopped = expectImportStopped(.malformedInput, at: "\(path):3") {
                try importFile("csv", path, into: db, map: map, batchSize: 1)
            }
            #expect(stopped?.error.message.contains("column 'cost' is not a number: 'about five'") == true)
            #expect(try db.read { r in try r.itemCount } == 1)
            try expectConsistent(db)
        }
    }

    @Test func tsvUsersAndACustomDelimiter() throws {
        try TemporaryDirectory.with { folder in
            let tsv = try folder.write(
                "users.tsv",
                """
                user_id\tage\tcity
                u1\t31\tLyon
                u2\t\tOslo

                """)
            let semicolons = try folder.write(
                "users.txt",
                """
                id;age
                u3;45

                """)
            let map = try FieldMap(kind: .users, mappings: ["age=age:number"])
            let db = try folder.createDatabase()
            #expect(try importFile("tsv", tsv, into: db, map: map).rowsImported == 2)
            #expect(try importFile("csv", semicolons, into: db, map: map, delimiter: ";").rowsImported == 1)
            try db.read { r throws in
                #expect(try r.user("u1")?.attributes == ["age": .number(31), "city": .string("Lyon")])
                #expect(try r.user("u2")?.attributes == ["city": .string("Oslo")])
                #expect(try r.user("u3")?.attributes == ["age": .number(45)])
            }
            try expectConsistent(db)
        }
    }

    @Test func jsonLinesEventsAndItems() throws {
        try TemporaryDirectory.with { folder in
            let events = try folder.write(
                "events.jsonl",
                """
                {"user": "u1", "item": "i1", "event": "view", "timestamp": 1700000000}

                {"user": 7, "item": "i2", "event": "cart", "timestamp": 1700000000123, "session": "visit-9"}
                {"user": "u1", "item": "i2", "event": "rating", "value": 4.5, "timestamp": "2023-11-14T22:13:21Z"}

                """)
            let items = try folder.write(
                "items.jsonl",
                """
                {"item_id": "i1", "title": "Kettle", "price": 20, "tags": ["kitchen", "steel"], "available": false, "note": null}
                {"item_id": "i2", "title": "Toaster", "created_at": "2023-01-01", "stars": 4.5, "stock": 1}

                """)
            let db = try folder.createDatabase()
            let eventReport = try importFile("jsonl", events, into: db, map: try FieldMap(kind: .events, mappings: []))
            #expect(eventReport.rowsImported == 3)
            #expect(eventReport.rowsRejected == 0)
            let itemReport = try importFile("jsonl", items, into: db, map: try FieldMap(kind: .items, mappings: []))
            #expect(itemReport.rowsImported == 2)
            try db.read { r throws in
                // Numbers below 10^11 are seconds, above milliseconds; strings are ISO times; numeric ids become text.
                #expect(
                    try r.storedEvents(ofUser: "u1") == [
                        StoredEvent(user: "u1", item: "i1", type: "view", value: 1, time: 1_700_000_000_000),
                        StoredEvent(user: "u1", item: "i2", type: "rating", value: 4.5, time: 1_700_000_001_000),
                    ])
                #expect(
                    try r.storedEvents(ofUser: "7") == [
                        StoredEvent(
                            user: "7", item: "i2", type: "cart", value: 1, time: 1_700_000_000_123, session: "visit-9")
                    ])
                #expect(
                    try r.item("i1")?.attributes == [
                        "title": .string("Kettle"), "price": .number(20), "tags": .strings(["kitchen", "steel"]),
                        "available": .bool(false),
                    ])
                #expect(
                    try r.item("i2")?.attributes == [
                        "title": .string("Toaster"), "created_at": .timestamp(Timestamp(parsing: "2023-01-01")!),
                        "stars": .number(4.5), "stock": .number(1),
                    ])
            }
            try expectConsistent(db)
        }
    }

    @Test func gzippedCSVIncludingConcatenatedMembers() throws {
        try TemporaryDirectory.with { folder in
            let first = try folder.gzip(folder.write("part1.csv", numberedEventsCSV(rows: 40)))
            let rest = (41...60).map { "u\($0 % 4),i\($0 % 7),view,\(1_700_000_000 + $0),\($0)\n" }.joined()
            let second = try folder.gzip(folder.write("part2.csv", rest))
            // `cat part1.csv.gz part2.csv.gz`: a gzip file may hold several members.
            let joined = try folder.write("events.csv.gz", bytes: contents(of: first) + contents(of: second))
            let map = try FieldMap(kind: .events, mappings: [])
            let db = try folder.createDatabase()
            #expect(try importFile("csv", first, into: db, map: map, batchSize: 7).rowsImported == 40)
            let other = try folder.createDatabase("joined")
            #expect(try importFile("csv", joined, into: other, map: map, batchSize: 7).rowsImported == 60)
            try other.read { r throws in
                #expect(try r.storedEvents().map(\.value) == (1...60).map(Double.init))
            }
            try expectConsistent(other)
        }
    }

    @Test(arguments: [
        (["user"], "is not FIELD=COLUMN"),
        (["=customer"], "is not FIELD=COLUMN"),
        (["colour=color"], "'colour' is not an event field"),
    ])
    func malformedMappingsAreInvalidArguments(_ mappings: [String], _ message: String) throws {
        let error = #expect(throws: RecDBError.self) { try FieldMap(kind: .events, mappings: mappings) }
        #expect(error?.code == .invalidArgument)
        #expect(error?.message.contains(message) == true, "\(String(describing: error))")
    }

    @Test func unknownTimeUnitIsAnInvalidArgument() {
        expectRecDBError(.invalidArgument) { _ = try FieldMap(kind: .events, mappings: [], timeUnit: "minutes") }
    }

    @Test func mappingToAMissingColumnStopsAtTheHeader() throws {
        try TemporaryDirectory.with { folder in
            let path = try folder.write("events.csv", numberedEventsCSV(rows: 3))
            let map = try FieldMap(kind: .events, mappings: ["user=customer"])
            let db = try folder.createDatabase()
            let stopped = expectImportStopped(.malformedInput, at: "\(path):1") {
                try importFile("csv", path, into: db, map: map)
            }
            #expect(stopped?.error.message.contains("--map user=customer") == true)
            #expect(try db.read { r in try r.eventCount } == 0)
            try expectConsistent(db)
        }
    }

    @Test func genericFormatsNeedAFieldMap() throws {
        try TemporaryDirectory.with { folder in
            let path = try folder.write("events.csv", numberedEventsCSV(rows: 1))
            expectRecDBError(.invalidArgument) { _ = try ImportFormats.make(name: "csv", path: path) }
        }
    }
}
