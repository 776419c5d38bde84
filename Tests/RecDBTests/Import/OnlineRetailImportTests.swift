import Foundation
import Testing

@testable import RecDB

@Suite("Import: Online Retail")
struct OnlineRetailImportTests {
    static let fixture = """
        InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country
        500001,P100,BLUE ENAMEL MUG,6,2011-03-01 09:15:00,2.5,14001,France
        500001,P200,"LANTERN, SMALL",2,2011-03-01 09:15:00,4.25,14001,France
        500002,P100,BLUE ENAMEL MUG,-1,2011-03-02 10:00:00,2.5,14002,Germany
        C500003,P200,"LANTERN, SMALL",-2,2011-03-03 11:00:00,4.25,14001,France
        500005,P300,PAPER FAN,12,2011-03-04 12:00:00,0.85,,United Kingdom
        C500006,P300,PAPER FAN,3,2011-03-05 08:30:00,0.85,14002,Germany
        500007,P100,BLUE ENAMEL MUG,4,2011-03-06 16:45:00,2.75,14001,France

        """

    @Test func invoicesBecomePurchasesReturnsAndSessions() throws {
        try TemporaryDirectory.with { folder in
            let path = try folder.write("online_retail.csv", Self.fixture)
            let db = try folder.createDatabase()
            let report = try importFile("online-retail", path, into: db)
            #expect(report.rowsImported == 7)
            #expect(report.rowsRejected == 0)

            try db.read { r throws in
                #expect(try r.itemCount == 3)
                #expect(try r.userCount == 3)
                // A negative quantity and a cancelled (C…) invoice are both returns.
                #expect(try r.eventCountsByType() == ["purchase": 4, "return": 3])

                // The description is the title (quoted commas survive); the latest positive unit price wins.
                #expect(
                    try r.item("P100")?.attributes == ["title": .string("BLUE ENAMEL MUG"), "price": .number(2.75)])
                #expect(try r.item("P200")?.attributes == ["title": .string("LANTERN, SMALL"), "price": .number(4.25)])
                #expect(try r.item("P300")?.price == 0.85)

                // Returns carry the absolute quantity; the invoice is the explicit session.
                #expect(
                    try r.storedEvents(ofUser: "14001") == [
                        StoredEvent(
                            user: "14001", item: "P100", type: "purchase", value: 6,
                            time: millis("2011-03-01T09:15:00Z"),
                            session: "500001"),
                        StoredEvent(
                            user: "14001", item: "P200", type: "purchase", value: 2,
                            time: millis("2011-03-01T09:15:00Z"),
                            session: "500001"),
                        StoredEvent(
                            user: "14001", item: "P200", type: "return", value: 2, time: millis("2011-03-03T11:00:00Z"),
                            session: "C500003"),
                        StoredEvent(
                            user: "14001", item: "P100", type: "purchase", value: 4,
                            time: millis("2011-03-06T16:45:00Z"),
                            session: "500007"),
                    ])
                #expect(
                    try r.storedEvents(ofUser: "14002").map { "\($0.type) \($0.value)" } == [
                        "return 1.0", "return 3.0",
                    ])
                #expect(try r.user("14001")?.attributes == ["country": .string("France")])

                // A line without a customer belongs to a guest of that invoice.
                #expect(
                    try r.user("guest-500005")?.attributes == [
                        "guest": .bool(true), "country": .string("United Kingdom"),
                    ])
                #expect(
                    try r.storedEvents(ofUser: "guest-500005") == [
                        StoredEvent(
                            user: "guest-500005", item: "P300", type: "purchase", value: 12,
                            time: millis("2011-03-04T12:00:00Z"), session: "500005")
                    ])

                #expect(try r.explicitSessionCount == 6)
                let basket = try #require(try r.session("500001"))
                #expect(basket.entries.count == 2)
                #expect(basket.userID == (try r.userID(for: "14001")))
            }
            try expectConsistent(db)
        }
    }

    @Test func gzippedFileInAFolderIsFound() throws {
        try TemporaryDirectory.with { folder in
            try folder.gzip(folder.write("retail/online_retail.csv", Self.fixture))
            let db = try folder.createDatabase()
            let report = try importFile("online-retail", folder.appending("retail"), into: db)
            #expect(report.rowsImported == 7)
            #expect(try db.read { r in try r.eventCount } == 7)
            try expectConsistent(db)
        }
    }

    @Test func missingColumnIsNamedWithTheHeaderLine() throws {
        try TemporaryDirectory.with { folder in
            let path = try folder.write(
                "retail.csv",
                """
                InvoiceNo,StockCode,Description,Quantity,InvoiceDate,Price,CustomerID,Country
                500001,P100,BLUE ENAMEL MUG,6,2011-03-01 09:15:00,2.5,14001,France

                """)
            let db = try folder.createDatabase()
            let stopped = expectImportStopped(.malformedInput, at: "\(path):1") {
                try importFile("online-retail", path, into: db)
            }
            #expect(stopped?.error.message.contains("'UnitPrice'") == true)
            try expectConsistent(db)
        }
    }
}
