import CZlib
import Foundation

/// How to turn a line's bytes into text.
public enum TextEncoding: Sendable {
    /// UTF-8; a line with invalid bytes is an error naming the file, line and byte offset.
    case utf8
    /// ISO 8859-1 (the classic MovieLens files): every byte is a character.
    case latin1
}

/// Reads a text file line by line, from plain or gzip-compressed input (detected by its magic bytes),
/// counting lines from 1 and stripping `\n` / `\r\n`. A gzip stream that ends early is a `truncatedInput` error.
public final class LineReader {
    public let path: String
    /// The number of the line most recently returned (1-based).
    public private(set) var lineNumber = 0
    public let encoding: TextEncoding
    private let file: UnsafeMutablePointer<FILE>
    private var gzip: UnsafeMutablePointer<z_stream>?
    private var gzipDone = false
    private var input = [UInt8](repeating: 0, count: 1 << 16)
    private var buffer: [UInt8] = []
    private var position = 0
    private var atEOF = false
    /// Bytes consumed from the file, for progress.
    public private(set) var bytesRead = 0
    /// The file's size on disk.
    public let fileSize: Int

    public init(path: String, encoding: TextEncoding = .utf8) throws {
        self.path = path
        self.encoding = encoding
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw RecDBError(.notFound, "no such file", location: path)
        }
        guard !isDirectory.boolValue else { throw RecDBError(.invalidArgument, "is a folder, not a file", location: path) }
        guard let file = fopen(path, "rb") else {
            throw RecDBError(.io, "cannot open: \(String(cString: strerror(errno)))", location: path)
        }
        self.file = file
        fileSize = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        buffer.reserveCapacity(1 << 17)
        let first = fread(&input, 1, 2, file)
        if first == 2 && input[0] == 0x1F && input[1] == 0x8B {
            let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
            stream.initialize(to: z_stream())
            guard inflateInit2_(stream, 15 + 32, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
                stream.deallocate()
                fclose(file)
                throw RecDBError(.io, "cannot start gzip decompression", location: path)
            }
            gzip = stream
            pendingInput = Array(input[0..<2])
            bytesRead = 2
        } else {
            buffer.append(contentsOf: input[0..<first])
            bytesRead = first
        }
    }

    private var pendingInput: [UInt8] = []

    deinit {
        if let gzip {
            inflateEnd(gzip)
            gzip.deallocate()
        }
        fclose(file)
    }

    /// Reads more decoded bytes into `buffer`; returns false at the end of input.
    private func fill() throws -> Bool {
        if atEOF { return false }
        if let gzip {
            var output = [UInt8](repeating: 0, count: 1 << 17)
            while true {
                if pendingInput.isEmpty {
                    let n = fread(&input, 1, input.count, file)
                    if n == 0 {
                        if gzipDone {
                            atEOF = true
                            return false
                        }
                        throw RecDBError(.truncatedInput, "the gzip stream ends early: the file is truncated", location: path)
                    }
                    bytesRead += n
                    pendingInput = Array(input[0..<n])
                }
                if gzipDone {
                    // Another gzip member follows (concatenated files).
                    inflateReset(gzip)
                    gzipDone = false
                }
                let produced: Int = try pendingInput.withUnsafeMutableBufferPointer { inBuffer in
                    try output.withUnsafeMutableBufferPointer { outBuffer in
                        gzip.pointee.next_in = inBuffer.baseAddress
                        gzip.pointee.avail_in = UInt32(inBuffer.count)
                        gzip.pointee.next_out = outBuffer.baseAddress
                        gzip.pointee.avail_out = UInt32(outBuffer.count)
                        let status = inflate(gzip, Z_NO_FLUSH)
                        if status == Z_STREAM_END {
                            gzipDone = true
                        } else if status != Z_OK && status != Z_BUF_ERROR {
                            throw RecDBError(.malformedInput, "corrupt gzip data (zlib status \(status))", location: path)
                        }
                        return outBuffer.count - Int(gzip.pointee.avail_out)
                    }
                }
                let remaining = Int(gzip.pointee.avail_in)
                pendingInput = remaining == 0 ? [] : Array(pendingInput.suffix(remaining))
                gzip.pointee.avail_in = 0
                if produced > 0 {
                    buffer.append(contentsOf: output[0..<produced])
                    return true
                }
            }
        }
        let n = fread(&input, 1, input.count, file)
        if n == 0 {
            if ferror(file) != 0 { throw RecDBError(.io, "read error: \(String(cString: strerror(errno)))", location: path) }
            atEOF = true
            return false
        }
        bytesRead += n
        buffer.append(contentsOf: input[0..<n])
        return true
    }

    /// Calls `body` with the next line's bytes (without the line break); returns false at the end of input.
    /// The bytes are valid only during the call.
    public func nextLineBytes<R>(_ body: (UnsafeBufferPointer<UInt8>) throws -> R) throws -> R? {
        while true {
            if let newline = buffer[position...].firstIndex(of: 10) {
                var end = newline
                if end > position && buffer[end - 1] == 13 { end -= 1 }
                lineNumber += 1
                let start = position
                position = newline + 1
                return try buffer.withUnsafeBufferPointer { try body(UnsafeBufferPointer(rebasing: $0[start..<end])) }
            }
            if position > 0 {
                buffer.removeSubrange(0..<position)
                position = 0
            }
            if try !fill() {
                guard !buffer.isEmpty else { return nil }
                var end = buffer.count
                if buffer[end - 1] == 13 { end -= 1 }
                lineNumber += 1
                defer {
                    buffer.removeAll(keepingCapacity: true)
                    position = 0
                }
                return try buffer.withUnsafeBufferPointer { try body(UnsafeBufferPointer(rebasing: $0[0..<end])) }
            }
        }
    }

    /// The next line as text, or nil at the end. Invalid UTF-8 is an `invalidUTF8` error naming the line.
    public func nextLine() throws -> String? {
        try nextLineBytes { bytes in try decode(bytes) }
    }

    /// Decodes one line's bytes with the reader's encoding.
    public func decode(_ bytes: UnsafeBufferPointer<UInt8>) throws -> String {
        switch encoding {
        case .utf8:
            if let text = String(validating: bytes, as: UTF8.self) { return text }
            throw RecDBError(
                .invalidUTF8, "invalid UTF-8 at byte \(Self.firstInvalidUTF8Offset(bytes) + 1) of the line",
                location: "\(path):\(lineNumber)")
        case .latin1:
            return String(decoding: bytes.lazy.map { UInt16($0) }, as: UTF16.self)
        }
    }

    static func firstInvalidUTF8Offset(_ bytes: UnsafeBufferPointer<UInt8>) -> Int {
        var parser = Unicode.UTF8.ForwardParser()
        var iterator = bytes.makeIterator()
        var offset = 0
        while true {
            switch parser.parseScalar(from: &iterator) {
            case .valid(let scalar): offset += scalar.count
            case .emptyInput, .error: return offset
            }
        }
    }
}
