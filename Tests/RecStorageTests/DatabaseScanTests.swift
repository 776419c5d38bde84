import Testing

@testable import RecStorage
import RecWire

@Suite("Scans and duplicates")
struct DatabaseScanTests {
    @Test func uint32KeysIterateInNumericOrder() throws {
        try TemporaryDirectory.with { folder in
            let env = try Environment.open(at: folder.path)
            let db = try env.database("numbers", key: UInt32Codec.self, value: EmptyCodec.self)
            let keys: [UInt32] = [256, 1, 0, 65_536, 255, .max, 2, 16_777_216]
            try env.write { txn throws in
                for key in keys { try db.put(key, (), in: &txn) }
            }
            try env.read { txn throws in
                #expect(try Self.keys(of: db, in: txn) == keys.sorted())
                #expect(try Self.keys(of: db, in: txn, from: 255) == [255, 256, 65_536, 16_777_216, .max])
                #expect(try Self.keys(of: db, in: txn, from: 257) == [65_536, 16_777_216, .max])
                #expect(try Self.keys(of: db, in: txn, reverse: true) == keys.sorted().reversed())
                #expect(try Self.keys(of: db, in: txn, from: 300, reverse: true) == [256, 255, 2, 1, 0])
            }
        }
    }

    @Test func uint64KeysIterateInNumericOrder() throws {
        try TemporaryDirectory.with { folder in
            let env = try Environment.open(at: folder.path)
            let db = try env.database("numbers", key: UInt64Codec.self, value: StringCodec.self)
            let keys: [UInt64] = [1 << 40, 1, 256, .max, 0, 1 << 32, 255, (1 << 32) - 1]
            try env.write { txn throws in
                for key in keys { try db.put(key, String(key), in: &txn) }
            }
            try env.read { txn throws in
                var walked: [UInt64] = []
                try db.scan(in: txn) { key, value in
                    #expect(value == String(key))
                    walked.append(key)
                    return .next
                }
                #expect(walked == keys.sorted())

                var firstTwo: [UInt64] = []
                try db.scan(in: txn, from: 1 << 32) { key, _ in
                    firstTwo.append(key)
                    return firstTwo.count == 2 ? .stop : .next
                }
                #expect(firstTwo == [1 << 32, 1 << 40])
            }
        }
    }

    @Test func scanRawWithPrefixReturnsOnlyMatchingKeys() throws {
        try TemporaryDirectory.with { folder in
            let env = try Environment.open(at: folder.path)
            let db = try env.database("words", key: StringCodec.self, value: EmptyCodec.self)
            try env.write { txn throws in
                for word in ["a", "aa", "ab", "abc", "abd", "ac", "b", "ba", "bz", "c"] {
                    try db.put(word, (), in: &txn)
                }
            }
            try env.read { txn throws in
                #expect(try Self.words(db, in: txn, prefix: "ab") == ["ab", "abc", "abd"])
                #expect(try Self.words(db, in: txn, prefix: "ab", reverse: true) == ["abd", "abc", "ab"])
                // A prefix range at the end of the database, and one that matches nothing.
                #expect(try Self.words(db, in: txn, prefix: "b") == ["b", "ba", "bz"])
                #expect(try Self.words(db, in: txn, prefix: "c", reverse: true) == ["c"])
                #expect(try Self.words(db, in: txn, prefix: "b", reverse: true) == ["bz", "ba", "b"])
                #expect(try Self.words(db, in: txn, prefix: "abz") == [])
                #expect(try Self.words(db, in: txn, prefix: "abz", reverse: true) == [])
                #expect(try Self.words(db, in: txn, prefix: "d", reverse: true) == [])
            }
        }
    }

    @Test func reverseScanRawWithPrefixEndingInFF() throws {
        try TemporaryDirectory.with { folder in
            let env = try Environment.open(at: folder.path)
            let db = try env.database("bytes", key: BytesCodec.self, value: EmptyCodec.self)
            let keys: [[UInt8]] = [
                [0x01], [0x01, 0xFF], [0x01, 0xFF, 0x00], [0x01, 0xFF, 0xFF], [0x02], [0xFF, 0xFF],
            ]
            try env.write { txn throws in
                for key in keys { try db.put(key, (), in: &txn) }
            }
            try env.read { txn throws in
                var forward: [[UInt8]] = []
                try db.scanRaw(in: txn, prefix: [0x01, 0xFF]) { key, _ in
                    forward.append(Array(key))
                    return .next
                }
                #expect(forward == [[0x01, 0xFF], [0x01, 0xFF, 0x00], [0x01, 0xFF, 0xFF]])
                var backward: [[UInt8]] = []
                try db.scanRaw(in: txn, prefix: [0x01, 0xFF], reverse: true) { key, _ in
                    backward.append(Array(key))
                    return .next
                }
                #expect(backward == forward.reversed())
                var last: [[UInt8]] = []
                try db.scanRaw(in: txn, prefix: [0xFF], reverse: true) { key, _ in
                    last.append(Array(key))
                    return .next
                }
                #expect(last == [[0xFF, 0xFF]])
            }
        }
    }

    @Test func reverseScanRawWithPrefixInDuplicatesDatabase() throws {
        try TemporaryDirectory.with { folder in
            let env = try Environment.open(at: folder.path)
            let db = try env.database(
                "postings",
                key: StringCodec.self,
                value: UInt32Codec.self,
                flags: .fixedSizeDuplicates
            )
            try env.write { txn throws in
                for (key, value) in [("a", 1), ("ab", 3), ("ab", 1), ("ab", 2), ("abc", 9), ("b", 4)]
                    as [(String, UInt32)]
                {
                    try db.put(key, value, in: &txn)
                }
            }
            try env.read { txn throws in
                var pairs: [String] = []
                try db.scanRaw(in: txn, prefix: Array("ab".utf8), reverse: true) { key, value in
                    pairs.append("\(try StringCodec.decode(key))=\(try UInt32Codec.decode(value))")
                    return .next
                }
                #expect(pairs == ["abc=9", "ab=3", "ab=2", "ab=1"])
            }
        }
    }

    @Test func duplicatesDatabaseKeepsSortedValuesPerKey() throws {
        try TemporaryDirectory.with { folder in
            let env = try Environment.open(at: folder.path)
            let db = try env.database(
                "seen",
                key: UInt32Codec.self,
                value: UInt32Codec.self,
                flags: .fixedSizeDuplicates
            )
            try env.write { txn throws in
                for (key, value) in [(1, 30), (1, 10), (1, 20), (2, 5)] as [(UInt32, UInt32)] {
                    #expect(try db.put(key, value, in: &txn, flags: .noDuplicateData))
                }
                #expect(try db.put(1, 20, in: &txn, flags: .noDuplicateData) == false)
            }
            try env.read { txn throws in
                #expect(try db.duplicates(of: 1, in: txn) == [10, 20, 30])
                #expect(try db.duplicateCount(of: 1, in: txn) == 3)
                #expect(try db.duplicateCount(of: 2, in: txn) == 1)
                #expect(try db.duplicateCount(of: 3, in: txn) == 0)
                #expect(try db.duplicates(of: 3, in: txn) == [])
                #expect(try db.count(in: txn) == 4)
                var reversed: [UInt32] = []
                try db.duplicatesRaw(of: 1, in: txn, reverse: true) { raw in
                    reversed.append(try UInt32Codec.decode(raw))
                    return .next
                }
                #expect(reversed == [30, 20, 10])
            }
            try env.write { txn throws in
                #expect(try db.delete(1, value: 20, in: &txn))
                #expect(try db.delete(1, value: 20, in: &txn) == false)
                #expect(try db.delete(7, value: 1, in: &txn) == false)
            }
            try env.read { txn throws in
                #expect(try db.duplicates(of: 1, in: txn) == [10, 30])
                #expect(try db.duplicateCount(of: 1, in: txn) == 2)
            }
            try env.write { txn throws in
                #expect(try db.delete(1, in: &txn))
                #expect(try db.delete(1, in: &txn) == false)
            }
            try env.read { txn throws in
                #expect(try db.duplicateCount(of: 1, in: txn) == 0)
                #expect(try db.duplicates(of: 2, in: txn) == [5])
            }
        }
    }

    @Test func noOverwriteKeepsTheFirstValue() throws {
        try TemporaryDirectory.with { folder in
            let env = try Environment.open(at: folder.path)
            let db = try env.database("names", key: StringCodec.self, value: StringCodec.self)
            try env.write { txn throws in
                #expect(try db.put("k", "first", in: &txn, flags: .noOverwrite))
                #expect(try db.put("k", "second", in: &txn, flags: .noOverwrite) == false)
            }
            #expect(try env.read { txn in try db.get("k", in: txn) } == "first")
        }
    }

    // MARK: - Helpers

    static func keys<T: Transaction & ~Copyable>(
        of db: Database<UInt32Codec, EmptyCodec>,
        in txn: borrowing T,
        from start: UInt32? = nil,
        reverse: Bool = false
    ) throws -> [UInt32] {
        var keys: [UInt32] = []
        try db.scan(in: txn, from: start, reverse: reverse) { key, _ in
            keys.append(key)
            return .next
        }
        return keys
    }

    static func words<T: Transaction & ~Copyable>(
        _ db: Database<StringCodec, EmptyCodec>,
        in txn: borrowing T,
        prefix: String,
        reverse: Bool = false
    ) throws -> [String] {
        var words: [String] = []
        try db.scanRaw(in: txn, prefix: Array(prefix.utf8), reverse: reverse) { key, _ in
            words.append(try StringCodec.decode(key))
            return .next
        }
        return words
    }
}
