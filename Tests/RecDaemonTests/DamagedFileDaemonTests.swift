import Foundation
import RecClient
import RecDB
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `recd` and damaged files: a file damaged before it starts is refused with status 1; damage that appears while it
/// serves fails only the requests that meet it.
@Suite("recd on damaged files")
struct DamagedFileDaemonTests {
    @Test func damagedFileIsRefusedAtStartWithStatusOne() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent(
            "recd-" + String(UInt64.random(in: .min ... .max), radix: 36)).path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let database = folder + "/db"
        try Daemon.makeShop(at: database, trained: true)
        let file = database + "/data.mdb"
        let size = try #require(try FileManager.default.attributesOfItem(atPath: file)[.size] as? Int)
        #expect(truncate(file, off_t(size / 2)) == 0)

        let process = Process()
        process.executableURL = try #require(Daemon.executable, "recd was not found beside the test bundle")
        process.arguments = ["--db", database, "--socket", folder + "/s.sock"]
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = errors
        try process.run()
        let deadline = Date().addingTimeInterval(20)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        let log = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(process.terminationReason == .exit && process.terminationStatus == 1, "\(log)")
        #expect(log.contains("\(file): the file is damaged"), "\(log)")
        #expect(log.contains("truncated"), "\(log)")
    }

    /// The root page of named database `name` in the newest snapshot of `file` (the main database of a small shop
    /// is one leaf page).
    static func rootPage(of name: String, in file: String) throws -> Int {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: file)))
        return try bytes.withUnsafeBytes { raw in
            func u16(_ o: Int) -> Int { Int(raw.loadUnaligned(fromByteOffset: o, as: UInt16.self)) }
            func u64(_ o: Int) -> UInt64 { raw.loadUnaligned(fromByteOffset: o, as: UInt64.self) }
            let pageSize = Int(raw.loadUnaligned(fromByteOffset: 40, as: UInt32.self))
            let meta = u64(144) > u64(pageSize + 144) ? 0 : pageSize
            let main = Int(u64(meta + 88 + 40))
            #expect(u16(main * pageSize + 10) == 2, "the main database is one leaf page")
            for i in 0..<(u16(main * pageSize + 12) - 16) / 2 {
                let node = main * pageSize + u16(main * pageSize + 16 + 2 * i)
                let key = Array(raw[(node + 8)..<(node + 8 + u16(node + 6))])
                if key == Array(name.utf8) { return Int(u64(node + 8 + key.count + 40)) }
            }
            throw RecDBError(.notFound, "no database \(name) in \(file)")
        }
    }

    @Test func requestThatMeetsDamageAnswersCorruptedAndOthersGoOn() throws {
        let daemon = try Daemon()
        let client = try daemon.client()
        _ = try client.querySync("SHOW USER 'u1' HISTORY LIMIT 3")

        // Zero the root page of the event log under the running daemon, as a disk error might.
        let file = daemon.database + "/data.mdb"
        let root = try Self.rootPage(of: "events", in: file)
        let fd = open(file, O_WRONLY)
        #expect(fd >= 0)
        let zeros = [UInt8](repeating: 0, count: 4096)
        #expect(pwrite(fd, zeros, zeros.count, off_t(root * 4096)) == zeros.count)
        close(fd)

        let error = #expect(throws: RecDBError.self) { _ = try client.querySync("SHOW USER 'u1' HISTORY LIMIT 3") }
        #expect(error?.code == .corrupted, "\(String(describing: error))")
        // Requests that do not read the damaged page are answered, on this connection and on new ones.
        let recommended = try #require(
            try client.querySync("RECOMMEND 3 ITEMS FOR USER 'u2' USING als") as? [String: Any])
        #expect((recommended["items"] as? [Any])?.count == 3, "\(recommended)")
        _ = try daemon.client().querySync("SHOW STATS")
        #expect(daemon.process.isRunning)
        #expect(daemon.terminate() == 0, "\(daemon.logText)")
    }
}
