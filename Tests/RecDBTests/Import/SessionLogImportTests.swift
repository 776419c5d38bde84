import Foundation
import Testing

@testable import RecDB

@Suite("Import: session logs (YOOCHOOSE, RetailRocket, DIGINETICA)")
struct SessionLogImportTests {
    // MARK: - YOOCHOOSE

    @Test func yoochooseRawClicksAndBuys() throws {
        try TemporaryDirectory.with { folder in
            // yoochoose-clicks.dat: session,ISO time,item,category (no header).
            try folder.write(
                "rsc15/yoochoose-clicks.dat",
                """
                71,2014-04-03T10:00:00.123Z,90001,0
                71,2014-04-03T10:01:30.000Z,90002,S
                72,2014-04-04T08:00:00.000Z,90001,3
                72,2014-04-04T08:02:00.000Z,90003,2090

                """)
            // yoochoose-buys.dat: session,ISO time,item,price,quantity.
            try folder.write(
                "rsc15/yoochoose-buys.dat",
                """
                72,2014-04-04T08:05:00.000Z,90003,1200,2

                """)
            let db = try folder.createDatabase()
            let report = try importFile("yoochoose", folder.appending("rsc15"), into: db)
            #expect(report.rowsImported == 5)

            try db.read { r throws in
                #expect(try r.eventCountsByType() == ["click": 4, "purchase": 1])
                #expect(try r.userCount == 2)
                #expect(try r.explicitSessionCount == 2)
                #expect(
                    try r.storedEvents(ofUser: "s-71") == [
                        StoredEvent(
                            user: "s-71", item: "90001", type: "click", value: 1,
                            time: millis("2014-04-03T10:00:00.123Z"),
                            session: "71"),
                        StoredEvent(
                            user: "s-71", item: "90002", type: "click", value: 1, time: millis("2014-04-03T10:01:30Z"),
                            session: "71"),
                    ])
                let buy = try #require(try r.storedEvents(ofUser: "s-72").last)
                #expect(
                    buy
                        == StoredEvent(
                            user: "s-72", item: "90003", type: "purchase", value: 2,
                            time: millis("2014-04-04T08:05:00Z"),
                            session: "72"))
                // Category S is a special offer, 1–12 a category, larger numbers a brand.
                #expect(try r.item("90002")?.tags == ["special-offer"])
                #expect(try r.item("90001")?.category == "3")
                #expect(try r.item("90003")?.attributes == ["brand": .string("2090"), "price": .number(1200)])
                #expect(try r.session("72")?.entries.count == 3)
            }
            try expectConsistent(db)
        }
    }

    @Test func yoochoosePreparedSessions() throws {
        try TemporaryDirectory.with { folder in
            let path = try folder.write(
                "yoochoose-clicks-tiny_train_full.txt",
                """
                SessionId\tItemId\tTime
                5\t80001\t1396437466.94
                5\t80002\t1396437500.5
                9\t80001\t1396440000

                """)
            let db = try folder.createDatabase()
            #expect(try importFile("yoochoose", path, into: db).rowsImported == 3)
            try db.read { r throws in
                #expect(
                    try r.storedEvents(ofUser: "s-5") == [
                        StoredEvent(
                            user: "s-5", item: "80001", type: "click", value: 1, time: 1_396_437_466_940, session: "5"),
                        StoredEvent(
                            user: "s-5", item: "80002", type: "click", value: 1, time: 1_396_437_500_500, session: "5"),
                    ])
                #expect(try r.explicitSessionCount == 2)
                #expect(try r.itemCount == 2)
            }
            try expectConsistent(db)
        }
    }

    // MARK: - RetailRocket

    @Test func retailRocketEventsMapViewCartAndPurchase() throws {
        try TemporaryDirectory.with { folder in
            try folder.write(
                "retailrocket/events.csv",
                """
                timestamp,visitorid,event,itemid,transactionid
                1433221332117,501,view,7001,
                1433221400000,501,addtocart,7001,
                1433221500000,501,transaction,7001,9001
                1433222000000,502,view,7002,

                """)
            let db = try folder.createDatabase()
            #expect(try importFile("retailrocket", folder.appending("retailrocket"), into: db).rowsImported == 4)
            try db.read { r throws in
                #expect(try r.eventCountsByType() == ["view": 2, "cart": 1, "purchase": 1])
                #expect(
                    try r.storedEvents(ofUser: "501") == [
                        StoredEvent(user: "501", item: "7001", type: "view", value: 1, time: 1_433_221_332_117),
                        StoredEvent(user: "501", item: "7001", type: "cart", value: 1, time: 1_433_221_400_000),
                        StoredEvent(user: "501", item: "7001", type: "purchase", value: 1, time: 1_433_221_500_000),
                    ])
                #expect(try r.explicitSessionCount == 0)
            }
            try expectConsistent(db)
        }
    }

    @Test func retailRocketUnknownEventIsRejected() throws {
        try TemporaryDirectory.with { folder in
            let path = try folder.write(
                "events.csv",
                """
                timestamp,visitorid,event,itemid,transactionid
                1433221332117,501,view,7001,
                1433221400000,501,refund,7001,

                """)
            let db = try folder.createDatabase()
            let stopped = expectImportStopped(.malformedInput, at: "\(path):3") {
                try importFile("retailrocket", path, into: db)
            }
            #expect(stopped?.error.message.contains("unknown event 'refund'") == true)
            let report = try importFile(
                "retailrocket", path, into: try folder.createDatabase("skipping"), skipBad: true)
            #expect(report.rowsImported == 1)
            #expect(report.rowsRejected == 1)
            try expectConsistent(db)
        }
    }

    @Test func retailRocketSessionSample() throws {
        try TemporaryDirectory.with { folder in
            let path = try folder.write(
                "sample_retailrocket.csv",
                """
                timestamp\tuser_id\titem_id\tsession_id
                1442004000\t11\t6001\t3
                1442004100\t11\t6002\t3
                1442090000\t11\t6001\t4
                1442004200\t12\t6003\t5

                """)
            let db = try folder.createDatabase()
            #expect(try importFile("retailrocket", path, into: db).rowsImported == 4)
            try db.read { r throws in
                #expect(try r.eventCountsByType() == ["view": 4])
                #expect(try r.explicitSessionCount == 3)
                #expect(
                    try r.storedEvents(ofUser: "11").map(\.session) == ["rr-3", "rr-3", "rr-4"])
                #expect(try r.storedEvents(ofUser: "12").first?.time == 1_442_004_200_000)
                #expect(try r.session("rr-3")?.entries.count == 2)
            }
            try expectConsistent(db)
        }
    }

    // MARK: - DIGINETICA

    @Test func digineticaViewsWithAnonymousVisitors() throws {
        try TemporaryDirectory.with { folder in
            let path = try folder.write(
                "train-item-views.csv",
                """
                session_id;user_id;item_id;timeframe;eventdate
                41;NA;5001;1200;2016-05-09
                41;NA;5002;86000;2016-05-09
                42;3377;5001;500;2016-05-10

                """)
            let db = try folder.createDatabase()
            #expect(try importFile("diginetica", path, into: db).rowsImported == 3)
            try db.read { r throws in
                #expect(try r.eventCountsByType() == ["view": 3])
                #expect(
                    try r.storedEvents(ofUser: "s-41") == [
                        StoredEvent(
                            user: "s-41", item: "5001", type: "view", value: 1, time: millis("2016-05-09") + 1200,
                            session: "41"),
                        StoredEvent(
                            user: "s-41", item: "5002", type: "view", value: 1, time: millis("2016-05-09") + 86000,
                            session: "41"),
                    ])
                #expect(try r.storedEvents(ofUser: "3377").map(\.session) == ["42"])
                #expect(try r.user("NA") == nil)
            }
            try expectConsistent(db)
        }
    }
}
