import Foundation
import Testing

@testable import RecDB

@Suite("Opening and format checks")
struct FormatTests {
    @Test func folderWithoutDatabaseThrowsNotFound() throws {
        try TemporaryDirectory.with { folder in
            expectRecDBError(.notFound) { _ = try RecDatabase.open(at: folder.path, create: false) }
            let missing = folder.appending("missing")
            expectRecDBError(.notFound) { _ = try RecDatabase.open(at: missing, create: false) }
            #expect(!FileManager.default.fileExists(atPath: missing), "opening without create makes no folder")
        }
    }

    @Test func foreignLMDBEnvironmentThrowsNotRecDB() throws {
        try TemporaryDirectory.with { folder in
            do {
                let env = try Environment.open(at: folder.path)
                let foo = try env.database("foo", key: StringCodec.self, value: StringCodec.self)
                try env.write { txn in _ = try foo.put("k", "v", in: &txn) }
            }  // The environment closes here; the registry only holds it weakly.
            expectRecDBError(.notRecDB) { _ = try RecDatabase.open(at: folder.path, create: false) }
            expectRecDBError(.notRecDB) { _ = try RecDatabase.open(at: folder.path, create: true) }
            let env = try Environment.open(at: folder.path)
            #expect(try env.databaseNames() == ["foo"], "a refused environment is left as it was")
        }
    }

    @Test func emptyLMDBEnvironmentNeedsCreate() throws {
        try TemporaryDirectory.with { folder in
            do { _ = try Environment.open(at: folder.path) }
            #expect(FileManager.default.fileExists(atPath: folder.appending("data.mdb")))
            expectRecDBError(.notRecDB) { _ = try RecDatabase.open(at: folder.path, create: false) }
            let db = try RecDatabase.open(at: folder.path, create: true)
            #expect(try CatalogCounts.of(db).items == 0)
        }
    }

    @Test func newerFormatVersionThrowsFormatTooNew() throws {
        try TemporaryDirectory.with { folder in
            let path = folder.appending("db")
            do { _ = try folder.createDatabase() }
            do {
                let env = try Environment.open(at: path)
                let meta = try env.database("meta", key: StringCodec.self, value: BytesCodec.self)
                let stored = try #require(try env.read { txn throws in try meta.get("format", in: txn) })
                var version = BinaryWriter()
                version.write(RecDatabase.formatVersion)
                #expect(stored == Array("RECDB".utf8) + version.bytes)

                var newer = BinaryWriter()
                newer.write(RecDatabase.formatVersion + 1)
                try env.write { txn in _ = try meta.put("format", Array("RECDB".utf8) + newer.bytes, in: &txn) }
            }
            expectRecDBError(.formatTooNew) { _ = try RecDatabase.open(at: path) }
        }
    }

    @Test func missingFormatMarkerThrowsNotRecDB() throws {
        try TemporaryDirectory.with { folder in
            let path = folder.appending("db")
            do { _ = try folder.createDatabase() }
            do {
                let env = try Environment.open(at: path)
                let meta = try env.database("meta", key: StringCodec.self, value: BytesCodec.self)
                try env.write { txn in _ = try meta.put("format", Array("NOTUS\0\0\0\u{1}".utf8), in: &txn) }
            }
            expectRecDBError(.notRecDB) { _ = try RecDatabase.open(at: path) }
        }
    }

    @Test func garbageDataFileThrowsWithoutCrashing() throws {
        try TemporaryDirectory.with { folder in
            var generator = SystemRandomNumberGenerator()
            let garbage = Data((0..<(64 << 10)).map { _ in UInt8.random(in: .min ... .max, using: &generator) })
            let dataFile = folder.appending("data.mdb")
            #expect(FileManager.default.createFile(atPath: dataFile, contents: garbage))

            for create in [false, true] {
                let error = #expect(throws: RecDBError.self) {
                    _ = try RecDatabase.open(at: folder.path, create: create)
                }
                #expect(error?.code == .notRecDB || error?.code == .storage, "\(String(describing: error))")
            }
            #expect(FileManager.default.contents(atPath: dataFile) == garbage, "the file is left untouched")
        }
    }

    @Test func reopenedDatabaseKeepsItsData() throws {
        try TemporaryDirectory.with { folder in
            do {
                let db = try folder.createDatabase()
                try db.write { w in
                    try w.upsertItem("i", attributes: ["title": .string("Gone Girl")])
                    try w.addEvent(EventInput("u", "purchase", "i", at: 0))
                }
            }
            let db = try RecDatabase.open(at: folder.appending("db"), create: false)
            #expect(
                try CatalogCounts.of(db)
                    == CatalogCounts(items: 1, users: 1, events: 1, explicitSessions: 0, eventsByType: ["purchase": 1])
            )
            #expect(try db.read { r throws in try r.item("i")?.title } == "Gone Girl")
        }
    }

    @Test func readOnlyOpenReadsButDoesNotWrite() throws {
        try TemporaryDirectory.with { folder in
            do {
                let db = try folder.createDatabase()
                try db.write { w in _ = try w.addEvent(EventInput("u", "view", "i", at: 0)) }
            }
            var options = RecDatabase.Options()
            options.storage.readOnly = true
            let db = try RecDatabase.open(at: folder.appending("db"), options: options)
            #expect(try CatalogCounts.of(db).events == 1)
            #expect(try db.read { r throws in try r.history(ofUser: "u").count } == 1)
            expectRecDBError(.invalidArgument) { try db.write { w in _ = try w.upsertUser("v") } }
        }
    }
}
