import Testing

@testable import RecStorage
import RecWire

@Suite("Codecs")
struct CodecTests {
    @Test func integerCodecsAreBigEndian() throws {
        #expect(UInt32Codec.withBytes(of: 0x0102_0304) { Array($0) } == [1, 2, 3, 4])
        #expect(UInt64Codec.withBytes(of: 0x0102_0304_0506_0708) { Array($0) } == [1, 2, 3, 4, 5, 6, 7, 8])
        #expect(try ([1, 2, 3, 4] as [UInt8]).withUnsafeBytes { try UInt32Codec.decode($0) } == 0x0102_0304)
    }

    @Test func wrongSizedOrInvalidBytesAreCorrupted() {
        expectRecDBError(.corrupted) { _ = try ([1, 2, 3] as [UInt8]).withUnsafeBytes { try UInt32Codec.decode($0) } }
        expectRecDBError(.corrupted) {
            _ = try ([1, 2, 3, 4] as [UInt8]).withUnsafeBytes { try UInt64Codec.decode($0) }
        }
        expectRecDBError(.corrupted) {
            _ = try ([0xC3, 0x28] as [UInt8]).withUnsafeBytes { try StringCodec.decode($0) }
        }
    }

    @Test func binaryWriterAndReaderRoundTrip() throws {
        var writer = BinaryWriter()
        writer.write(UInt8(0xAB))
        writer.write(UInt16(0xBEEF))
        writer.write(UInt32.max)
        writer.write(UInt64(0x0123_4567_89AB_CDEF))
        writer.write(Int64.min)
        writer.write(Int64(-1))
        writer.write(Int64.max)
        writer.write(-0.0 as Double)
        writer.write(Double.infinity)
        writer.write(3.25 as Float)
        writer.write("")
        writer.write("Nørdic 📚")
        let bytes = writer.bytes
        try bytes.withUnsafeBytes { raw in
            var reader = BinaryReader(raw)
            #expect(try reader.readUInt8() == 0xAB)
            #expect(try reader.readUInt16() == 0xBEEF)
            #expect(try reader.readUInt32() == .max)
            #expect(try reader.readUInt64() == 0x0123_4567_89AB_CDEF)
            #expect(try reader.readInt64() == .min)
            #expect(try reader.readInt64() == -1)
            #expect(try reader.readInt64() == .max)
            let negativeZero = try reader.readDouble()
            #expect(negativeZero == 0 && negativeZero.sign == .minus)
            #expect(try reader.readDouble() == .infinity)
            #expect(try reader.readFloat() == 3.25)
            #expect(try reader.readString() == "")
            #expect(try reader.readString() == "Nørdic 📚")
            #expect(reader.isAtEnd)
            #expect(reader.offset == bytes.count)
        }
    }

    @Test func signedIntegersSortInNumericOrderAsBytes() {
        let values: [Int64] = [.min, -1_000_000, -1, 0, 1, 1_000_000, .max]
        let encoded = values.map { value -> [UInt8] in
            var writer = BinaryWriter()
            writer.write(value)
            return writer.bytes
        }
        for (lower, higher) in zip(encoded, encoded.dropFirst()) {
            #expect(lower.lexicographicallyPrecedes(higher))
        }
    }

    enum ReadKind: String, CaseIterable, Sendable {
        case uint8, uint16, uint32, uint64, int64, double, float, string
    }

    @Test(arguments: ReadKind.allCases)
    func readingPastTheEndThrowsCorrupted(_ kind: ReadKind) throws {
        // One byte short of every fixed-size read; for a string, a length prefix longer than what follows.
        let bytes: [UInt8]
        switch kind {
        case .uint8: bytes = []
        case .uint16: bytes = [1]
        case .uint32, .float: bytes = [1, 2, 3]
        case .uint64, .int64, .double: bytes = [1, 2, 3, 4, 5, 6, 7]
        case .string: bytes = [0, 0, 0, 5, 0x61, 0x62]
        }
        bytes.withUnsafeBytes { raw in
            var reader = BinaryReader(raw)
            expectRecDBError(.corrupted) {
                switch kind {
                case .uint8: _ = try reader.readUInt8()
                case .uint16: _ = try reader.readUInt16()
                case .uint32: _ = try reader.readUInt32()
                case .uint64: _ = try reader.readUInt64()
                case .int64: _ = try reader.readInt64()
                case .double: _ = try reader.readDouble()
                case .float: _ = try reader.readFloat()
                case .string: _ = try reader.readString()
                }
            }
        }
    }

    @Test func hugeStringLengthPrefixThrowsCorrupted() {
        ([0xFF, 0xFF, 0xFF, 0xFF, 0x61] as [UInt8]).withUnsafeBytes { raw in
            var reader = BinaryReader(raw)
            expectRecDBError(.corrupted) { _ = try reader.readString() }
        }
    }
}
