import CZlib
import Foundation

/// Writes one gzip-compressed text file through zlib, buffering lines; ``finish()`` flushes and closes it, and
/// a writer dropped without it closes the file too (its content is then incomplete: callers write into a scratch
/// folder that they rename only after every file finished).
final class GzipFileWriter {
    let path: String
    private var file: gzFile?
    private var buffer: [UInt8] = []
    /// Uncompressed bytes written so far.
    private(set) var bytesWritten = 0

    /// Creates (or truncates) `path`; `level` is zlib's, 1 fastest to 9 smallest.
    init(path: String, level: Int = 6) throws {
        self.path = path
        guard let file = gzopen(path, "wb\(max(1, min(9, level)))") else {
            throw RecDBError(.io, "cannot create the file: \(String(cString: strerror(errno)))", location: path)
        }
        self.file = file
        buffer.reserveCapacity(1 << 16)
    }

    deinit { if let file { gzclose(file) } }

    /// Appends `line` and a newline.
    func writeLine(_ line: String) throws {
        buffer.append(contentsOf: line.utf8)
        buffer.append(0x0A)
        if buffer.count >= 1 << 16 { try flushBuffer() }
    }

    /// Writes what is buffered and closes the file; errors name the file.
    func finish() throws {
        try flushBuffer()
        guard let file else { return }
        self.file = nil
        let status = gzclose(file)
        guard status == Z_OK else { throw RecDBError(.io, "cannot finish the gzip file (zlib status \(status))", location: path) }
    }

    private func flushBuffer() throws {
        guard !buffer.isEmpty, let file else { return }
        let written = buffer.withUnsafeBytes { gzwrite(file, $0.baseAddress, UInt32($0.count)) }
        guard Int(written) == buffer.count else {
            throw RecDBError(.io, "cannot write: \(String(cString: strerror(errno)))", location: path)
        }
        bytesWritten += buffer.count
        buffer.removeAll(keepingCapacity: true)
    }
}
