import CZlib
import Foundation

/// How to turn a line's bytes into text.
public enum TextEncoding: Sendable {
    /// UTF-8; a line with invalid bytes is an error naming the file, line and byte offset.
    case utf8
    /// ISO 8859-1 (the classic MovieLens files): every byte is a character.
    case latin1
}

/// What an import may read, and how long a line may be.
public struct InputLimits: Sendable {
    /// Read FIFOs (named pipes, `/dev/stdin` from a pipe), character devices and sockets (`recctl import --stream`).
    /// Without it they are refused with ``RecDBError/Code/invalidArgument`` before anything is read: they may never
    /// end (`/dev/zero`), and re-runs cannot resume them.
    public var allowStreams = false
    /// The longest line (or quoted row over several lines) accepted, in bytes; a longer one is
    /// ``RecDBError/Code/malformedInput``, so a stream without line breaks stops instead of filling memory.
    public var maxLineBytes = 64 << 20

    /// Creates limits; the defaults refuse streams and accept lines of up to 64 MiB.
    public init(allowStreams: Bool = false, maxLineBytes: Int = 64 << 20) {
        self.allowStreams = allowStreams
        self.maxLineBytes = maxLineBytes
    }
}

/// Reads a text file line by line, from plain or gzip-compressed input (detected by its magic bytes),
/// counting lines from 1 and stripping `\n` / `\r\n`. A gzip stream that ends early is a `truncatedInput` error.
/// Only regular files are read unless ``InputLimits/allowStreams``; a line over ``InputLimits/maxLineBytes`` is a
/// `malformedInput` error.
public final class LineReader {
    /// The file as given, quoted in every error's location.
    public let path: String
    /// The number of the line most recently returned (1-based).
    public private(set) var lineNumber = 0
    /// `path:line` of the line most recently returned, for error messages.
    public var location: String { "\(path):\(lineNumber)" }
    /// How each line's bytes are decoded; with `.utf8` an invalid line throws `invalidUTF8`.
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
    /// The file's size on disk (0 for a stream).
    public let fileSize: Int
    /// Whether the input is a FIFO, device or socket rather than a regular file.
    public let isStream: Bool
    /// The limits the reader was opened with.
    public let limits: InputLimits
    /// Where the search for the next line break resumes in `buffer` (bytes before it hold none).
    private var scanned = 0

    /// Opens `path`, detecting gzip by its first two bytes. Throws `invalidArgument` for a stream without
    /// ``InputLimits/allowStreams``, `io` when the file cannot be opened.
    public init(path: String, encoding: TextEncoding = .utf8, limits: InputLimits = InputLimits()) throws {
        self.path = path
        self.encoding = encoding
        self.limits = limits
        isStream = try Self.checkKind(path, limits: limits)
        guard let file = fopen(path, "rb") else {
            throw RecDBError(.io, "cannot open: \(String(cString: strerror(errno)))", location: path)
        }
        self.file = file
        fileSize = isStream ? 0 : (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
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

    /// Checks that `path` is a regular file, or a stream that `limits` allows (returns true for a stream). Uses
    /// `stat` only: opening a FIFO would wait for a writer.
    static func checkKind(_ path: String, limits: InputLimits) throws -> Bool {
        var info = stat()
        guard stat(path, &info) == 0 else {
            if errno == ENOENT { throw RecDBError(.notFound, "no such file", location: path) }
            throw RecDBError(.io, "cannot read: \(String(cString: strerror(errno)))", location: path)
        }
        let kind = info.st_mode & S_IFMT
        if kind == S_IFREG { return false }
        if kind == S_IFDIR { throw RecDBError(.invalidArgument, "is a folder, not a file", location: path) }
        guard limits.allowStreams else {
            let what =
                switch kind {
                case S_IFIFO: "a FIFO (a named pipe or a pipe)"
                case S_IFCHR: "a character device"
                case S_IFSOCK: "a socket"
                case S_IFBLK: "a block device"
                default: "not a regular file"
                }
            throw RecDBError(
                .invalidArgument,
                "is \(what), not a regular file: it may never end, so it is refused; pass --stream "
                    + "(ImportOptions.stream) to read it anyway (lines longer than --max-line-bytes then stop the "
                    + "import, and a re-run cannot resume it)",
                location: path)
        }
        return true
    }

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
            if let newline = buffer[max(position, scanned)...].firstIndex(of: 10) {
                var end = newline
                if end > position && buffer[end - 1] == 13 { end -= 1 }
                if end - position > limits.maxLineBytes { throw lineTooLong(end - position) }
                lineNumber += 1
                let start = position
                position = newline + 1
                scanned = position
                return try buffer.withUnsafeBufferPointer { try body(UnsafeBufferPointer(rebasing: $0[start..<end])) }
            }
            if position > 0 {
                buffer.removeSubrange(0..<position)
                position = 0
            }
            // No line break in what is buffered: the next search starts after it.
            scanned = buffer.count
            if buffer.count > limits.maxLineBytes { throw lineTooLong(buffer.count) }
            if try !fill() {
                guard !buffer.isEmpty else { return nil }
                var end = buffer.count
                if buffer[end - 1] == 13 { end -= 1 }
                lineNumber += 1
                defer {
                    buffer.removeAll(keepingCapacity: true)
                    position = 0
                    scanned = 0
                }
                return try buffer.withUnsafeBufferPointer { try body(UnsafeBufferPointer(rebasing: $0[0..<end])) }
            }
        }
    }

    private func lineTooLong(_ count: Int) -> RecDBError {
        RecDBError(
            .malformedInput,
            "line \(lineNumber + 1) is longer than the limit of \(limits.maxLineBytes) bytes (\(count) bytes read without "
                + "a line break\(isStream ? " from a stream" : ""); --max-line-bytes raises the limit)",
            location: "\(path):\(lineNumber + 1)")
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
