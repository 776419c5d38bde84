import Foundation
import Testing

@testable import RecDB

/// The files hold every shopper's history: only their owner may read them, unless a group is asked for.
@Suite("File access", .serialized)
struct FileAccessTests {
    static func mode(_ path: String) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int) ?? -1) & 0o777
    }

    @Test func newDatabaseLockFileAndBackupAreOwnerOnly() throws {
        try TemporaryDirectory.with { folder in
            let previous = umask(0o022)
            defer { umask(previous) }
            let path = folder.appending("shop")
            let db = try RecDatabase.open(at: path, create: true)
            try db.write { w in try w.upsertItem("i1", attributes: ["title": .string("One")]) }
            #expect(Self.mode(path) == 0o700)
            #expect(Self.mode(path + "/data.mdb") == 0o600)
            #expect(Self.mode(path + "/lock.mdb") == 0o600)
            let backup = folder.appending("backup")
            try db.backup(to: backup)
            #expect(Self.mode(backup) == 0o700)
            #expect(Self.mode(backup + "/data.mdb") == 0o600)
            // The backup opens and holds the item.
            let copy = try RecDatabase.open(at: backup)
            #expect(try copy.read { r in try r.item("i1")?.title } == "One")
        }
    }

    @Test func groupAccessWhenAskedFor() throws {
        try TemporaryDirectory.with { folder in
            // A common umask would take group write away; asking for group access gives it anyway.
            let previous = umask(0o022)
            defer { umask(previous) }
            var options = RecDatabase.Options()
            options.storage.access = .group
            let path = folder.appending("shared")
            let db = try RecDatabase.open(at: path, create: true, options: options)
            #expect(Self.mode(path) == 0o770)
            #expect(Self.mode(path + "/data.mdb") == 0o660)
            #expect(Self.mode(path + "/lock.mdb") == 0o660)
            try db.backup(to: folder.appending("shared-backup"))
            #expect(Self.mode(folder.appending("shared-backup") + "/data.mdb") == 0o660)
        }
    }

    @Test func backupRefusesAFolderThatHoldsADatabase() throws {
        try TemporaryDirectory.with { folder in
            let db = try folder.createDatabase()
            let backup = folder.appending("b")
            try db.backup(to: backup)
            expectRecDBError(.alreadyExists) { try db.backup(to: backup) }
        }
    }
}
