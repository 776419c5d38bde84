/// Turns values into the bytes LMDB stores and back.
///
/// Integer codecs are big-endian so that LMDB's byte order is numeric order and cursors walk keys in order.
/// `withBytes` hands out a temporary buffer so that fixed-size keys never allocate.
public protocol ByteCodec {
    associatedtype Value
    /// Calls `body` with the encoded bytes of `value`; the buffer is valid only inside `body`.
    static func withBytes<R>(of value: Value, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R
    /// Decodes a value from bytes that LMDB returned; throws ``RecDBError`` with code `corrupted` on bad bytes.
    static func decode(_ bytes: UnsafeRawBufferPointer) throws -> Value
}

/// A `UInt32` stored big-endian (4 bytes).
public enum UInt32Codec: ByteCodec {
    public static func withBytes<R>(of value: UInt32, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try Swift.withUnsafeBytes(of: value.bigEndian, body)
    }

    public static func decode(_ bytes: UnsafeRawBufferPointer) throws -> UInt32 {
        guard bytes.count == 4 else { throw RecDBError(.corrupted, "expected 4 bytes for UInt32, found \(bytes.count)") }
        return bytes.loadBigEndianUInt32(at: 0)
    }
}

/// A `UInt64` stored big-endian (8 bytes).
public enum UInt64Codec: ByteCodec {
    public static func withBytes<R>(of value: UInt64, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try Swift.withUnsafeBytes(of: value.bigEndian, body)
    }

    public static func decode(_ bytes: UnsafeRawBufferPointer) throws -> UInt64 {
        guard bytes.count == 8 else { throw RecDBError(.corrupted, "expected 8 bytes for UInt64, found \(bytes.count)") }
        return bytes.loadBigEndianUInt64(at: 0)
    }
}

/// A string stored as its UTF-8 bytes.
public enum StringCodec: ByteCodec {
    public static func withBytes<R>(of value: String, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        var copy = value
        return try copy.withUTF8 { try body(UnsafeRawBufferPointer($0)) }
    }

    public static func decode(_ bytes: UnsafeRawBufferPointer) throws -> String {
        guard let text = String(validating: bytes.bindMemory(to: UInt8.self), as: UTF8.self) else {
            throw RecDBError(.corrupted, "stored string is not valid UTF-8")
        }
        return text
    }
}

/// Raw bytes, stored as they are.
public enum BytesCodec: ByteCodec {
    public static func withBytes<R>(of value: [UInt8], _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try value.withUnsafeBytes(body)
    }

    public static func decode(_ bytes: UnsafeRawBufferPointer) throws -> [UInt8] { Array(bytes) }
}

/// An empty value, for sets keyed by their members.
public enum EmptyCodec: ByteCodec {
    public static func withBytes<R>(of value: Void, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(start: nil, count: 0))
    }

    public static func decode(_ bytes: UnsafeRawBufferPointer) throws {}
}

extension UnsafeRawBufferPointer {
    @inline(__always)
    func loadBigEndianUInt32(at offset: Int) -> UInt32 {
        UInt32(bigEndian: loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }

    @inline(__always)
    func loadBigEndianUInt64(at offset: Int) -> UInt64 {
        UInt64(bigEndian: loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }
}

// MARK: - Record encoding

/// Appends fixed-width big-endian integers, floats and length-prefixed strings to a byte array.
public struct BinaryWriter {
    public private(set) var bytes: [UInt8]

    public init(capacity: Int = 64) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    public mutating func write(_ value: UInt8) { bytes.append(value) }
    public mutating func write(_ value: UInt16) { Swift.withUnsafeBytes(of: value.bigEndian) { bytes += $0 } }
    public mutating func write(_ value: UInt32) { Swift.withUnsafeBytes(of: value.bigEndian) { bytes += $0 } }
    public mutating func write(_ value: UInt64) { Swift.withUnsafeBytes(of: value.bigEndian) { bytes += $0 } }
    /// A signed integer stored with its sign bit flipped, so byte order is numeric order.
    public mutating func write(_ value: Int64) { write(UInt64(bitPattern: value) ^ (1 << 63)) }
    public mutating func write(_ value: Double) { write(value.bitPattern) }
    public mutating func write(_ value: Float) { write(value.bitPattern) }

    /// A UTF-8 string prefixed by its length as a `UInt32`.
    public mutating func write(_ value: String) {
        var copy = value
        copy.withUTF8 { utf8 in
            write(UInt32(utf8.count))
            bytes += utf8
        }
    }
}

/// Reads what ``BinaryWriter`` wrote; every read checks bounds and throws `corrupted` past the end.
public struct BinaryReader {
    let buffer: UnsafeRawBufferPointer
    public private(set) var offset = 0

    public init(_ buffer: UnsafeRawBufferPointer) { self.buffer = buffer }

    public var isAtEnd: Bool { offset >= buffer.count }

    @inline(__always)
    private mutating func take(_ count: Int) throws -> Int {
        guard offset + count <= buffer.count else {
            throw RecDBError(.corrupted, "record ends after \(buffer.count) bytes; needed \(offset + count)")
        }
        defer { offset += count }
        return offset
    }

    public mutating func readUInt8() throws -> UInt8 { buffer[try take(1)] }
    public mutating func readUInt16() throws -> UInt16 {
        UInt16(bigEndian: buffer.loadUnaligned(fromByteOffset: try take(2), as: UInt16.self))
    }
    public mutating func readUInt32() throws -> UInt32 { buffer.loadBigEndianUInt32(at: try take(4)) }
    public mutating func readUInt64() throws -> UInt64 { buffer.loadBigEndianUInt64(at: try take(8)) }
    public mutating func readInt64() throws -> Int64 { Int64(bitPattern: try readUInt64() ^ (1 << 63)) }
    public mutating func readDouble() throws -> Double { Double(bitPattern: try readUInt64()) }
    public mutating func readFloat() throws -> Float { Float(bitPattern: try readUInt32()) }

    public mutating func readString() throws -> String {
        let count = Int(try readUInt32())
        let start = try take(count)
        let slice = UnsafeRawBufferPointer(rebasing: buffer[start..<start + count])
        return try StringCodec.decode(slice)
    }
}
