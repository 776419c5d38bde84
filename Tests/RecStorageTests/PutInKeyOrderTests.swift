import Testing

@testable import RecStorage

/// `putRawInKeyOrder`: appends when the key comes last, so large values written in key order fill their pages; any
/// other key is a plain put.
@Suite("Puts in key order")
struct PutInKeyOrderTests {
    /// 200 values of 1,536 bytes (a 384-dimension float32 vector) under ascending keys.
    private static func write(_ db: Database<BytesCodec, BytesCodec>, env: Environment, inKeyOrder: Bool) throws {
        try env.write { txn throws in
            for index in 0..<200 {
                let key = withUnsafeBytes(of: UInt32(index).bigEndian) { Array($0) }
                let value = [UInt8](repeating: UInt8(index & 0xFF), count: 1536)
                try key.withUnsafeBytes { k in
                    try value.withUnsafeBytes { v in
                        if inKeyOrder {
                            try db.putRawInKeyOrder(key: k, value: v, in: &txn)
                        } else {
                            try db.putRaw(key: k, value: v, in: &txn)
                        }
                    }
                }
            }
        }
    }

    @Test func largeValuesWrittenInKeyOrderFillTheirPages() throws {
        try TemporaryDirectory.with { folder in
            let env = try Environment.open(at: folder.path)
            let plain = try env.database("plain", key: BytesCodec.self, value: BytesCodec.self)
            let appended = try env.database("appended", key: BytesCodec.self, value: BytesCodec.self)
            try Self.write(plain, env: env, inKeyOrder: false)
            try Self.write(appended, env: env, inKeyOrder: true)
            try env.read { txn throws in
                let plainBytes = try plain.byteSize(in: txn)
                let appendedBytes = try appended.byteSize(in: txn)
                // One value to a 4 KB page with plain puts, two with appends (plus a few branch pages).
                #expect(plainBytes >= 200 * 4096)
                #expect(appendedBytes <= 110 * 4096, "\(appendedBytes) bytes against \(plainBytes)")
                #expect(try appended.count(in: txn) == 200)
            }
        }
    }

    @Test func keysBeforeTheLastAreReplacedOrInsertedInPlace() throws {
        try TemporaryDirectory.with { folder in
            let env = try Environment.open(at: folder.path)
            let db = try env.database("values", key: BytesCodec.self, value: BytesCodec.self)
            func put(_ key: UInt8, _ value: UInt8) throws {
                try env.write { txn throws in
                    try [key].withUnsafeBytes { k in
                        try [value].withUnsafeBytes { v in try db.putRawInKeyOrder(key: k, value: v, in: &txn) }
                    }
                }
            }
            try put(5, 50)
            try put(9, 90)
            try put(7, 70)  // before the last key: inserted in place
            try put(9, 91)  // the last key again: replaced
            try put(5, 51)  // the first key: replaced
            try env.read { txn throws in
                #expect(try db.count(in: txn) == 3)
                #expect(try db.get([5], in: txn) == [51])
                #expect(try db.get([7], in: txn) == [70])
                #expect(try db.get([9], in: txn) == [91])
            }
        }
    }
}
