import CZlib
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// What makes an input file the same file on a re-run: its resolved path, size, modification time (ns) and a CRC-32
/// of its first 64 KiB. A file edited, replaced, appended to or touched is a different file.
struct FileIdentity: Equatable, Sendable {
    static let headBytes = 64 << 10

    var path: String
    var size: UInt64
    var modifiedNanoseconds: Int64
    var headCRC: UInt32

    /// The identity of the regular file at `path`, or nil when it is not one (a stream has none).
    init?(path: String) throws {
        guard let resolved = realpath(path, nil) else {
            throw RecDBError(.io, "cannot resolve the path: \(String(cString: strerror(errno)))", location: path)
        }
        self.path = String(cString: resolved)
        free(resolved)
        let fd = open(self.path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw RecDBError(.io, "cannot open: \(String(cString: strerror(errno)))", location: path)
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG else { return nil }
        size = UInt64(info.st_size)
        modifiedNanoseconds = Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec)
        var head = [UInt8](repeating: 0, count: Self.headBytes)
        var filled = 0
        while filled < head.count {
            let n = head.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + filled, $0.count - filled, off_t(filled)) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else {
                throw RecDBError(.io, "cannot read: \(String(cString: strerror(errno)))", location: path)
            }
            if n == 0 { break }
            filled += n
        }
        headCRC = head.withUnsafeBufferPointer { UInt32(crc32(0, $0.baseAddress, uInt(filled))) }
    }

    init(path: String, size: UInt64, modifiedNanoseconds: Int64, headCRC: UInt32) {
        self.path = path
        self.size = size
        self.modifiedNanoseconds = modifiedNanoseconds
        self.headCRC = headCRC
    }
}

/// How far an import of one input file got: written in the same transaction as every batch that holds its rows, so
/// the database and the marker never disagree, even after `kill -9` or a full disk. A re-run of the same import
/// (same format and options) over the same file skips the rows the marker counts.
///
/// Stored in `meta` under `import.` + 16 hex digits of a hash of the resolved path and the import's signature.
struct ImportMarker: Equatable, Sendable {
    var file: FileIdentity
    /// The format and the options that change what rows mean (``ImportFormat/signature``).
    var signature: String
    /// Rows of this file consumed by committed batches (imported, or rejected with `--skip-bad`), counted as the
    /// format hands them to the sink, from 1.
    var rows: Int

    static let keyPrefix = "import."

    /// The `meta` key of the marker for a file and an import signature.
    static func key(path: String, signature: String) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in path.utf8 + [0] + signature.utf8 {
            hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3
        }
        let hex = String(hash, radix: 16)
        return keyPrefix + String(repeating: "0", count: 16 - hex.count) + hex
    }

    var key: String { Self.key(path: file.path, signature: signature) }

    var bytes: [UInt8] {
        var writer = BinaryWriter(capacity: 64 + file.path.utf8.count + signature.utf8.count)
        writer.write(UInt8(1))  // version of this record
        writer.write(file.path)
        writer.write(file.size)
        writer.write(file.modifiedNanoseconds)
        writer.write(file.headCRC)
        writer.write(signature)
        writer.write(UInt64(rows))
        return writer.bytes
    }

    init(file: FileIdentity, signature: String, rows: Int) {
        self.file = file
        self.signature = signature
        self.rows = rows
    }

    init(_ raw: UnsafeRawBufferPointer) throws {
        var reader = BinaryReader(raw)
        guard try reader.readUInt8() == 1 else { throw RecDBError(.corrupted, "import marker of an unknown version") }
        let path = try reader.readString()
        let size = try reader.readUInt64()
        let modified = try reader.readInt64()
        let crc = try reader.readUInt32()
        file = FileIdentity(path: path, size: size, modifiedNanoseconds: modified, headCRC: crc)
        signature = try reader.readString()
        rows = Int(try reader.readUInt64())
    }
}

extension CatalogReading where Self: ~Copyable {
    /// The import marker stored under `key`, or nil.
    func importMarker(key: String) throws -> ImportMarker? {
        try schema.meta.get(key, in: txn).map { bytes in try bytes.withUnsafeBytes { try ImportMarker($0) } }
    }
}

extension CatalogWriter {
    /// Stores an import marker in this transaction.
    mutating func putImportMarker(_ marker: ImportMarker) throws {
        var txn = WriteTransaction(continuing: handle)
        try schema.meta.put(marker.key, marker.bytes, in: &txn)
    }
}
