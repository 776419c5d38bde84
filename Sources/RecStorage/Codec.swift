import Synchronization
import RecWire

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
    /// Calls `body` with the value's 4 big-endian bytes, so keys sort numerically; no allocation.
    @inlinable
    public static func withBytes<R>(of value: UInt32, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try Swift.withUnsafeBytes(of: value.bigEndian, body)
    }

    /// Reads exactly 4 big-endian bytes; any other length throws `corrupted`.
    public static func decode(_ bytes: UnsafeRawBufferPointer) throws -> UInt32 {
        guard bytes.count == 4 else { throw RecDBError(.corrupted, "expected 4 bytes for UInt32, found \(bytes.count)") }
        return bytes.loadBigEndianUInt32(at: 0)
    }
}

/// A `UInt64` stored big-endian (8 bytes).
public enum UInt64Codec: ByteCodec {
    /// Calls `body` with the value's 8 big-endian bytes, so keys sort numerically; no allocation.
    @inlinable
    public static func withBytes<R>(of value: UInt64, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try Swift.withUnsafeBytes(of: value.bigEndian, body)
    }

    /// Reads exactly 8 big-endian bytes; any other length throws `corrupted`.
    public static func decode(_ bytes: UnsafeRawBufferPointer) throws -> UInt64 {
        guard bytes.count == 8 else { throw RecDBError(.corrupted, "expected 8 bytes for UInt64, found \(bytes.count)") }
        return bytes.loadBigEndianUInt64(at: 0)
    }
}

/// A string stored as its UTF-8 bytes.
public enum StringCodec: ByteCodec {
    /// Calls `body` with the string's UTF-8 bytes, without a length prefix or a terminating zero.
    @inlinable
    public static func withBytes<R>(of value: String, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        var copy = value
        return try copy.withUTF8 { try body(UnsafeRawBufferPointer($0)) }
    }

    /// Decodes UTF-8; bytes that are not valid UTF-8 throw `corrupted` rather than being repaired.
    public static func decode(_ bytes: UnsafeRawBufferPointer) throws -> String {
        guard let text = String(validating: bytes.bindMemory(to: UInt8.self), as: UTF8.self) else {
            throw RecDBError(.corrupted, "stored string is not valid UTF-8")
        }
        return text
    }
}

/// Raw bytes, stored as they are.
public enum BytesCodec: ByteCodec {
    /// Calls `body` with the array's bytes in place.
    @inlinable
    public static func withBytes<R>(of value: [UInt8], _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try value.withUnsafeBytes(body)
    }

    /// Copies the bytes out of the map into an array; never throws.
    public static func decode(_ bytes: UnsafeRawBufferPointer) throws -> [UInt8] { Array(bytes) }
}

/// An empty value, for sets keyed by their members.
public enum EmptyCodec: ByteCodec {
    /// Calls `body` with an empty buffer (a zero-length LMDB value).
    @inlinable
    public static func withBytes<R>(of value: Void, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(start: nil, count: 0))
    }

    /// Accepts any bytes and ignores them.
    public static func decode(_ bytes: UnsafeRawBufferPointer) throws {}
}

extension UnsafeRawBufferPointer {
    @inline(__always)
    package func loadBigEndianUInt32(at offset: Int) -> UInt32 {
        UInt32(bigEndian: loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }

    @inline(__always)
    package func loadBigEndianUInt64(at offset: Int) -> UInt64 {
        UInt64(bigEndian: loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }
}

// MARK: - Checked typed arrays

/// How many elements a stored array must hold: what ``StoredArray`` checks a value's byte count against.
public struct StoredCount: Sendable, Hashable, CustomStringConvertible {
    let minimum: Int
    let maximum: Int

    /// Exactly `count` elements.
    public static func exactly(_ count: Int) -> StoredCount { StoredCount(minimum: count, maximum: count) }

    /// Any whole number of elements from 0 to `maximum`.
    public static func upTo(_ maximum: Int) -> StoredCount { StoredCount(minimum: 0, maximum: maximum) }

    /// Any whole number of elements in `range`.
    public static func within(_ range: ClosedRange<Int>) -> StoredCount {
        StoredCount(minimum: range.lowerBound, maximum: range.upperBound)
    }

    /// Reads as in an error message: "exactly 4", "at most 100" or "2…8".
    public var description: String {
        minimum == maximum ? "exactly \(minimum)" : minimum == 0 ? "at most \(maximum)" : "\(minimum)…\(maximum)"
    }
}

/// Checked, alignment-safe access to arrays of fixed-size elements (floats, `UInt32` ids) stored in LMDB values.
///
/// Every length read from the file is validated before use: the value's byte count must be a whole number of
/// elements within the count the caller expects, else the access throws ``RecDBError`` with code `corrupted`
/// naming what was read. LMDB aligns leaf values to 2 bytes only (overflow values to a page + 16), so the elements
/// are handed out in place when the bytes happen to be aligned for `T`, and from a copy when they are not.
///
/// ```swift
/// let norm = try StoredArray.with(value, as: Float.self, .exactly(dimension), "vector of item 7") { floats in
///     floats.reduce(0) { $0 + $1 * $1 }
/// }
/// ```
public enum StoredArray {
    /// The number of `T` elements in `bytes`, checked against `count`; throws `corrupted` naming `what`.
    @inline(__always)
    public static func count<T: BitwiseCopyable>(
        of type: T.Type, in bytes: UnsafeRawBufferPointer, _ count: StoredCount, _ what: @autoclosure () -> String
    ) throws -> Int {
        let size = MemoryLayout<T>.stride
        let n = bytes.count / size
        guard bytes.count % size == 0, n >= count.minimum, n <= count.maximum else {
            throw mismatch(bytes.count, size, count, what())
        }
        return n
    }

    @inline(never)
    static func mismatch(_ byteCount: Int, _ size: Int, _ count: StoredCount, _ what: String) -> RecDBError {
        let wanted = count.minimum == count.maximum
            ? "\(count.minimum * size) bytes (\(count) elements of \(size) bytes)"
            : "a multiple of \(size) bytes, \(count) elements"
        return RecDBError(.corrupted, "\(what) has \(byteCount) bytes; expected \(wanted)")
    }

    /// Whether `pointer` is aligned for `T`.
    @inline(__always)
    public static func isAligned<T>(_ pointer: UnsafeRawPointer?, for type: T.Type) -> Bool {
        Int(bitPattern: pointer) & (MemoryLayout<T>.alignment - 1) == 0
    }

    /// Calls `body` with the elements of `bytes` after checking them against `count`: in place when the bytes are
    /// aligned for `T` (zero-copy), else from a temporary aligned copy. The buffer is valid only inside `body`.
    @inline(__always)
    public static func with<T: BitwiseCopyable, R>(
        _ bytes: UnsafeRawBufferPointer, as type: T.Type, _ count: StoredCount, _ what: @autoclosure () -> String,
        _ body: (UnsafeBufferPointer<T>) throws -> R
    ) throws -> R {
        let n = try self.count(of: T.self, in: bytes, count, what())
        if n == 0 { return try body(UnsafeBufferPointer(start: nil, count: 0)) }
        if isAligned(bytes.baseAddress, for: T.self) {
            // Validated size, aligned address: the mapped bytes are viewed as `T` in place.
            return try body(UnsafeBufferPointer(start: bytes.baseAddress!.assumingMemoryBound(to: T.self), count: n))
        }
        return try withUnsafeTemporaryAllocation(of: T.self, capacity: n) { scratch in
            UnsafeMutableRawPointer(scratch.baseAddress!).copyMemory(from: bytes.baseAddress!, byteCount: n * MemoryLayout<T>.stride)
            return try body(UnsafeBufferPointer(scratch))
        }
    }

    /// The elements of `bytes`, checked against `count` and copied into an array.
    public static func array<T: BitwiseCopyable>(
        _ bytes: UnsafeRawBufferPointer, as type: T.Type, _ count: StoredCount, _ what: @autoclosure () -> String
    ) throws -> [T] {
        let n = try self.count(of: T.self, in: bytes, count, what())
        return [T](unsafeUninitializedCapacity: n) { buffer, initialized in
            if n > 0 {
                UnsafeMutableRawPointer(buffer.baseAddress!).copyMemory(from: bytes.baseAddress!, byteCount: n * MemoryLayout<T>.stride)
            }
            initialized = n
        }
    }

    /// The elements of `bytes`, checked against `count`, as a pointer that stays valid while the mapping does
    /// (the read transaction) and `copies` lives: in place when aligned, else a copy that `copies` owns.
    /// For values a hot path reads many times (index chunks), resolved once per snapshot.
    public static func pointer<T: BitwiseCopyable>(
        _ bytes: UnsafeRawBufferPointer, as type: T.Type, _ count: StoredCount, copies: AlignedCopies,
        _ what: @autoclosure () -> String
    ) throws -> UnsafeBufferPointer<T> {
        let n = try self.count(of: T.self, in: bytes, count, what())
        if n == 0 { return UnsafeBufferPointer(start: nil, count: 0) }
        if isAligned(bytes.baseAddress, for: T.self) {
            // Validated size, aligned address: bound once here so hot paths may view it as `T`.
            return UnsafeBufferPointer(start: bytes.baseAddress!.bindMemory(to: T.self, capacity: n), count: n)
        }
        return copies.copy(bytes, as: T.self, count: n)
    }
}

/// Aligned copies of misaligned stored values, owned by whoever reads them for longer than one call (a snapshot of
/// an index) and freed with it.
public final class AlignedCopies: Sendable {
    /// Addresses of the copies (plain data, so the list may sit behind a lock), freed with this object.
    private let blocks = Mutex<[UInt]>([])

    /// Creates an empty owner; it frees every copy it hands out when it is deallocated.
    public init() {}

    deinit { for address in blocks.withLock({ $0 }) { UnsafeMutableRawPointer(bitPattern: address)?.deallocate() } }

    /// How many values were copied (they were misaligned).
    public var count: Int { blocks.withLock { $0.count } }

    func copy<T: BitwiseCopyable>(_ bytes: UnsafeRawBufferPointer, as type: T.Type, count: Int) -> UnsafeBufferPointer<T> {
        let byteCount = count * MemoryLayout<T>.stride
        let block = UnsafeMutableRawPointer.allocate(byteCount: byteCount, alignment: max(MemoryLayout<T>.alignment, 16))
        block.copyMemory(from: bytes.baseAddress!, byteCount: byteCount)
        blocks.withLock { $0.append(UInt(bitPattern: block)) }
        return UnsafeBufferPointer(start: block.bindMemory(to: T.self, capacity: count), count: count)
    }
}

// MARK: - Record encoding

/// Appends fixed-width big-endian integers, floats and length-prefixed strings to a byte array.
package struct BinaryWriter {
    /// The encoded bytes written so far, in write order.
    package private(set) var bytes: [UInt8]

    /// Creates an empty writer that reserves `capacity` bytes up front (64 by default) to avoid regrowing.
    package init(capacity: Int = 64) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    /// Appends one byte.
    package mutating func write(_ value: UInt8) { bytes.append(value) }
    /// Appends 2 bytes, big-endian.
    package mutating func write(_ value: UInt16) { Swift.withUnsafeBytes(of: value.bigEndian) { bytes += $0 } }
    /// Appends 4 bytes, big-endian.
    package mutating func write(_ value: UInt32) { Swift.withUnsafeBytes(of: value.bigEndian) { bytes += $0 } }
    /// Appends 8 bytes, big-endian.
    package mutating func write(_ value: UInt64) { Swift.withUnsafeBytes(of: value.bigEndian) { bytes += $0 } }
    /// A signed integer stored with its sign bit flipped, so byte order is numeric order.
    package mutating func write(_ value: Int64) { write(UInt64(bitPattern: value) ^ (1 << 63)) }
    /// Appends the IEEE 754 bit pattern as 8 big-endian bytes (exact round trip, NaN payloads included).
    package mutating func write(_ value: Double) { write(value.bitPattern) }
    /// Appends the IEEE 754 bit pattern as 4 big-endian bytes.
    package mutating func write(_ value: Float) { write(value.bitPattern) }

    /// A UTF-8 string prefixed by its length as a `UInt32`.
    package mutating func write(_ value: String) {
        var copy = value
        copy.withUTF8 { utf8 in
            write(UInt32(utf8.count))
            bytes += utf8
        }
    }
}

/// Reads what ``BinaryWriter`` wrote; every read checks bounds and throws `corrupted` past the end.
package struct BinaryReader {
    let buffer: UnsafeRawBufferPointer
    /// Where the next read starts, in bytes from the start of the buffer.
    package private(set) var offset = 0

    /// Starts reading at the first byte of `buffer`, which must stay valid (the transaction open) while the reader is used.
    package init(_ buffer: UnsafeRawBufferPointer) { self.buffer = buffer }

    /// Whether every byte has been read; a record decoder checks it to reject trailing garbage.
    package var isAtEnd: Bool { offset >= buffer.count }

    /// Bytes not read yet.
    package var remaining: Int { buffer.count - offset }

    /// A `UInt32` count of following elements of at least `elementSize` bytes each, checked against the bytes left
    /// and `limit` before anything trusts it (a reserve, a loop): throws `corrupted` naming `what`.
    package mutating func readCount(
        elementSize: Int, limit: Int = .max, _ what: @autoclosure () -> String = "a list"
    ) throws -> Int {
        let count = Int(try readUInt32())
        guard count <= limit, count <= remaining / max(elementSize, 1) else {
            throw RecDBError(
                .corrupted,
                "\(what()) claims \(count) entries; \(remaining) bytes are left"
                    + (limit == .max ? "" : " and the most is \(limit)"))
        }
        return count
    }

    @inline(__always)
    private mutating func take(_ count: Int) throws -> Int {
        guard count >= 0, count <= buffer.count - offset else {
            throw RecDBError(.corrupted, "record ends after \(buffer.count) bytes; needed \(offset + count)")
        }
        defer { offset += count }
        return offset
    }

    /// Steps over `count` bytes; returns where they start.
    @discardableResult
    package mutating func skip(_ count: Int) throws -> Int { try take(count) }

    /// Reads 1 byte; throws `corrupted` past the end, as every read here does.
    package mutating func readUInt8() throws -> UInt8 { buffer[try take(1)] }
    /// Reads 2 big-endian bytes.
    package mutating func readUInt16() throws -> UInt16 {
        UInt16(bigEndian: buffer.loadUnaligned(fromByteOffset: try take(2), as: UInt16.self))
    }
    /// Reads 4 big-endian bytes.
    package mutating func readUInt32() throws -> UInt32 { buffer.loadBigEndianUInt32(at: try take(4)) }
    /// Reads 8 big-endian bytes.
    package mutating func readUInt64() throws -> UInt64 { buffer.loadBigEndianUInt64(at: try take(8)) }
    /// Reads 8 bytes as `BinaryWriter` writes an `Int64` (sign bit flipped) and flips the sign bit back.
    package mutating func readInt64() throws -> Int64 { Int64(bitPattern: try readUInt64() ^ (1 << 63)) }
    /// Reads 8 bytes as an IEEE 754 bit pattern.
    package mutating func readDouble() throws -> Double { Double(bitPattern: try readUInt64()) }
    /// Reads 4 bytes as an IEEE 754 bit pattern.
    package mutating func readFloat() throws -> Float { Float(bitPattern: try readUInt32()) }

    /// Reads a `UInt32` length and steps over that many bytes, returned in place (valid while the buffer is): a
    /// string to compare or skip without decoding it.
    package mutating func readStringBytes() throws -> UnsafeRawBufferPointer {
        let count = Int(try readUInt32())
        let start = try take(count)
        return UnsafeRawBufferPointer(rebasing: buffer[start..<start + count])
    }

    /// Reads a `UInt32` length then that many UTF-8 bytes; throws `corrupted` when the length runs past the end or the
    /// bytes are not valid UTF-8.
    package mutating func readString() throws -> String {
        let count = Int(try readUInt32())
        let start = try take(count)
        let slice = UnsafeRawBufferPointer(rebasing: buffer[start..<start + count])
        return try StringCodec.decode(slice)
    }
}
