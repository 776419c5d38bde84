import Testing

@testable import RecStorage
import RecWire

/// ``StoredArray``: byte counts are checked before anything trusts them; misaligned bytes are copied, aligned ones
/// are read in place.
@Suite("Stored arrays")
struct StoredArrayTests {
    /// `values` as bytes starting `offset` bytes into a 16-aligned buffer; `body` sees exactly those bytes.
    static func withBytes<R>(
        of values: [Float], at offset: Int, extra: Int = 0, _ body: (UnsafeRawBufferPointer) throws -> R
    ) rethrows -> R {
        let count = values.count * 4 + extra
        let storage = UnsafeMutableRawPointer.allocate(byteCount: count + offset, alignment: 16)
        defer { storage.deallocate() }
        storage.initializeMemory(as: UInt8.self, repeating: 0xAB, count: count + offset)
        values.withUnsafeBytes { (storage + offset).copyMemory(from: $0.baseAddress!, byteCount: values.count * 4) }
        return try body(UnsafeRawBufferPointer(start: storage + offset, count: count))
    }

    @Test(arguments: [0, 1, 2, 3])
    func elementsAreReadAtAnyAlignment(offset: Int) throws {
        let values: [Float] = [1.5, -2, 3.25, 1e-3, 7]
        try Self.withBytes(of: values, at: offset) { bytes in
            let read = try StoredArray.with(bytes, as: Float.self, .exactly(5), "test") { buffer -> [Float] in
                // In place exactly when aligned.
                #expect((UnsafeRawPointer(buffer.baseAddress!) == bytes.baseAddress!) == (offset == 0))
                return Array(buffer)
            }
            #expect(read == values)
            #expect(try StoredArray.array(bytes, as: Float.self, .upTo(8), "test") == values)
            let copies = AlignedCopies()
            let pointer = try StoredArray.pointer(bytes, as: Float.self, .exactly(5), copies: copies, "test")
            #expect(Array(pointer) == values)
            #expect(copies.count == (offset == 0 ? 0 : 1))
            #expect(StoredArray.isAligned(pointer.baseAddress, for: Float.self))
        }
    }

    @Test func wrongByteCountsAreCorrupted() throws {
        Self.withBytes(of: [1, 2, 3, 4], at: 2, extra: 1) { bytes in
            expectRecDBError(.corrupted) { _ = try StoredArray.array(bytes, as: Float.self, .upTo(100), "v") }
        }
        try Self.withBytes(of: [1, 2, 3, 4], at: 0) { bytes throws in
            expectRecDBError(.corrupted) { _ = try StoredArray.array(bytes, as: Float.self, .exactly(5), "v") }
            expectRecDBError(.corrupted) { _ = try StoredArray.array(bytes, as: Float.self, .upTo(3), "v") }
            expectRecDBError(.corrupted) { _ = try StoredArray.array(bytes, as: UInt64.self, .within(3...4), "v") }
            #expect(try StoredArray.count(of: UInt32.self, in: bytes, .within(4...4), "v") == 4)
            let error = #expect(throws: RecDBError.self) {
                try StoredArray.with(bytes, as: Float.self, .exactly(16), "vector of item #3") { _ in () }
            }
            #expect(error?.message == "vector of item #3 has 16 bytes; expected 64 bytes (exactly 16 elements of 4 bytes)")
        }
    }

    @Test func countsReadFromRecordsAreCheckedAgainstTheBytesLeft() throws {
        var writer = BinaryWriter()
        writer.write(UInt32(3))
        for i in 0..<3 { writer.write(UInt32(i)) }
        writer.write(UInt32(0xFFFF_FFF0))
        try writer.bytes.withUnsafeBytes { raw in
            var reader = BinaryReader(raw)
            #expect(try reader.readCount(elementSize: 4) == 3)
            for _ in 0..<3 { _ = try reader.readUInt32() }
            expectRecDBError(.corrupted) { _ = try reader.readCount(elementSize: 1, "list") }
            var again = BinaryReader(raw)
            expectRecDBError(.corrupted) { _ = try again.readCount(elementSize: 4, limit: 2, "list") }
            var skipping = BinaryReader(raw)
            expectRecDBError(.corrupted) { try skipping.skip(Int.max) }
        }
    }

    @Test func databaseArraysNameTheDatabase() throws {
        try TemporaryDirectory.with { folder in
            let env = try Environment.open(at: folder.path)
            let data = try env.database("model_data", key: BytesCodec.self, value: BytesCodec.self)
            try env.write { txn in _ = try data.put([1, 2, 3], [0, 0, 128, 63, 0], in: &txn) }
            try env.read { txn throws in
                let error = #expect(throws: RecDBError.self) {
                    _ = try data.withArray([1, 2, 3], as: Float.self, .upTo(4), in: txn, "test") { Array($0) }
                }
                #expect(error?.code == .corrupted)
                #expect(error?.message.hasPrefix("model_data: test has 5 bytes") == true, "\(String(describing: error))")
                let absent = try data.withArray([9], as: Float.self, .upTo(4), in: txn, "absent") { Array($0) }
                #expect(absent == nil)
            }
        }
    }
}
