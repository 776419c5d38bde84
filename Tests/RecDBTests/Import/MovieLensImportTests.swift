import Foundation
import Testing

@testable import RecDB

@Suite("Import: MovieLens")
struct MovieLensImportTests {
    /// RecBole's atomic files: tab-separated, with a typed header.
    static func writeAtomicFixture(in folder: TemporaryDirectory, name: String = "ml-tiny") throws -> String {
        try folder.write(
            "\(name)/\(name).item",
            """
            item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq
            101\tHarbor Lights\t1994\tDrama Romance
            102\tThe Copper Key\t2001\tMystery
            103\tUndated Reel\t\tComedy

            """)
        try folder.write(
            "\(name)/\(name).user",
            """
            user_id:token\tage:token\tgender:token\toccupation:token\tzip_code:token
            7\t29\tF\tlibrarian\t02139
            8\t41\tM\tengineer\t94110

            """)
        try folder.write(
            "\(name)/\(name).inter",
            """
            user_id:token\titem_id:token\trating:float\ttimestamp:float
            7\t101\t4\t880000000
            7\t102\t3.5\t880000060
            8\t101\t5\t880000120
            8\t103\t1\t879999000

            """)
        return folder.appending(name)
    }

    @Test func atomicFilesImportItemsUsersAndRatings() throws {
        try TemporaryDirectory.with { folder in
            let data = try Self.writeAtomicFixture(in: folder)
            let db = try folder.createDatabase()
            let report = try importFile("movielens", data, into: db)

            #expect(report.format == "movielens")
            #expect(report.rowsRead == 9)
            #expect(report.rowsImported == 9)
            #expect(report.rowsRejected == 0)
            #expect(report.batchesCommitted == 3)
            try db.read { r throws in
                #expect(try r.itemCount == 3)
                #expect(try r.userCount == 2)
                #expect(try r.eventCountsByType() == ["rating": 4])

                let harbor = try #require(try r.item("101"))
                #expect(harbor.title == "Harbor Lights")
                #expect(harbor.attributes["year"] == .number(1994))
                #expect(harbor.tags == ["Drama", "Romance"])
                #expect(try r.externalItemIDs(r.items(withTag: "Drama")) == ["101"])
                // An empty field sets nothing.
                #expect(
                    try r.item("103")?.attributes == ["title": .string("Undated Reel"), "tags": .strings(["Comedy"])])

                let user = try #require(try r.user("7"))
                #expect(
                    user.attributes == [
                        "age": .number(29), "gender": .string("F"), "occupation": .string("librarian"),
                        "zip_code": .string("02139"),
                    ])

                // Ratings keep their value; times are unix seconds; histories are in time order.
                #expect(
                    try r.storedEvents(ofUser: "8") == [
                        StoredEvent(user: "8", item: "103", type: "rating", value: 1, time: 879_999_000_000),
                        StoredEvent(user: "8", item: "101", type: "rating", value: 5, time: 880_000_120_000),
                    ])
                #expect(try r.storedEvents(ofUser: "7").map(\.value) == [4, 3.5])
            }
            try expectConsistent(db)
        }
    }

    @Test func gzippedInteractionsAreFoundByTheirFilePath() throws {
        try TemporaryDirectory.with { folder in
            let data = try Self.writeAtomicFixture(in: folder)
            let inter = try folder.gzip((data as NSString).appendingPathComponent("ml-tiny.inter"))
            let db = try folder.createDatabase()
            // The path of one file names its folder: the items and users beside it are imported too.
            let report = try importFile("ml", inter, into: db)
            #expect(report.rowsImported == 9)
            try db.read { r throws in
                #expect(try r.eventCount == 4)
                #expect(try r.item("102")?.title == "The Copper Key")
            }
            try expectConsistent(db)
        }
    }

    @Test func classicFilesDecodeLatin1Titles() throws {
        try TemporaryDirectory.with { folder in
            // u.item: id|title|release date|video date|url|19 genre flags (unknown, Action, …, Western).
            func flags(_ genres: Set<Int>) -> String {
                (0..<19).map { genres.contains($0) ? "1" : "0" }.joined(separator: "|")
            }
            try folder.write(
                "ml-classic/u.item",
                bytes: latin1(
                    """
                    1|Café Lumière (2003)|01-Jan-2003||http://example.org/cafe|\(flags([8, 14]))
                    2|Night Freight (1999)|15-Mar-1999||http://example.org/freight|\(flags([1, 16]))

                    """))
            try folder.write(
                "ml-classic/u.user",
                """
                1|34|F|artist|10027
                2|52|M|retired|60614

                """)
            try folder.write(
                "ml-classic/u.data",
                """
                1\t1\t5\t890000000
                2\t1\t3\t890000100
                2\t2\t4\t890000200

                """)
            let db = try folder.createDatabase()
            let report = try importFile("movielens", folder.appending("ml-classic"), into: db)
            #expect(report.rowsImported == 7)

            try db.read { r throws in
                let cafe = try #require(try r.item("1"))
                #expect(cafe.title == "Café Lumière (2003)")
                // é and è are single Latin-1 characters, not mojibake or replacement characters.
                #expect(cafe.title?.unicodeScalars.map(\.value).filter { $0 > 127 } == [0xE9, 0xE8])
                #expect(cafe.attributes["year"] == .number(2003))
                #expect(cafe.attributes["url"] == .string("http://example.org/cafe"))
                #expect(cafe.tags == ["Drama", "Romance"])
                #expect(try r.item("2")?.tags == ["Action", "Thriller"])

                #expect(
                    try r.user("2")?.attributes == [
                        "age": .number(52), "gender": .string("M"), "occupation": .string("retired"),
                        "zip_code": .string("60614"),
                    ])
                #expect(
                    try r.storedEvents(ofUser: "2") == [
                        StoredEvent(user: "2", item: "1", type: "rating", value: 3, time: 890_000_100_000),
                        StoredEvent(user: "2", item: "2", type: "rating", value: 4, time: 890_000_200_000),
                    ])
            }
            try expectConsistent(db)
        }
    }

    @Test func folderWithoutRatingsIsNotFound() throws {
        try TemporaryDirectory.with { folder in
            try folder.write("empty/README", "nothing here\n")
            let db = try folder.createDatabase()
            let stopped = expectImportStopped(.notFound) {
                try importFile("movielens", folder.appending("empty"), into: db)
            }
            #expect(stopped?.report.rowsRead == 0)
            #expect(try db.read { r in try r.eventCount } == 0)
            try expectConsistent(db)
        }
    }
}
