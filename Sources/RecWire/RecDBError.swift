/// The one error type RecDB throws: a code that callers can switch on, a message for people,
/// where it happened (a file and line for imports, a key or path for storage), and the underlying cause.
public struct RecDBError: Error, CustomStringConvertible, Sendable {
    /// What kind of failure this is. A struct over a private enum so that codes can grow.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// The one code table: each case's raw value is its name on the wire, in `--json` output and in clients.
        private enum Base: String, Hashable, Sendable, CaseIterable {
            case storage, mapFull = "map_full", notRecDB = "not_recdb", formatTooNew = "format_too_new"
            case notFound = "not_found", invalidArgument = "invalid_argument", malformedInput = "malformed_input"
            case invalidUTF8 = "invalid_utf8", truncatedInput = "truncated_input", unknownFormat = "unknown_format"
            case corrupted, io, alreadyExists = "already_exists", syntax, diskFull = "disk_full"
            case permissionDenied = "permission_denied", limitExceeded = "limit_exceeded", timeout, busy, cancelled
            // The daemon's own answers.
            case badRequest = "bad_request", tooLarge = "too_large", readOnly = "read_only"
            case shuttingDown = "shutting_down", tooManyConnections = "too_many_connections", `internal`
            // What a client meets on its side of the socket.
            case unavailable, closed, badResponse = "bad_response"
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// An LMDB call failed.
        public static let storage = Code(.storage)
        /// The memory map is full; RecDB grows it and retries, so callers rarely see this.
        public static let mapFull = Code(.mapFull)
        /// The folder holds an LMDB environment that RecDB did not create.
        public static let notRecDB = Code(.notRecDB)
        /// The database was written by a newer RecDB whose format this one cannot read.
        public static let formatTooNew = Code(.formatTooNew)
        /// An id, file or key that was asked for does not exist.
        public static let notFound = Code(.notFound)
        /// An argument is out of range or of the wrong type.
        public static let invalidArgument = Code(.invalidArgument)
        /// A row or record of input could not be parsed.
        public static let malformedInput = Code(.malformedInput)
        /// Input text is not valid UTF-8.
        public static let invalidUTF8 = Code(.invalidUTF8)
        /// Input ended in the middle of a record or a compressed stream.
        public static let truncatedInput = Code(.truncatedInput)
        /// An import format name that RecDB does not know.
        public static let unknownFormat = Code(.unknownFormat)
        /// Stored data violates an invariant.
        public static let corrupted = Code(.corrupted)
        /// Reading or writing a file failed.
        public static let io = Code(.io)
        /// Something that must be new already exists.
        public static let alreadyExists = Code(.alreadyExists)
        /// A query is not well formed; ``RecDBError/position`` tells where.
        public static let syntax = Code(.syntax)
        /// The file system has no space left (`ENOSPC`, `EDQUOT`): the write was not made; the database stays
        /// consistent and writable once space returns.
        public static let diskFull = Code(.diskFull)
        /// The caller's role does not allow this statement.
        public static let permissionDenied = Code(.permissionDenied)
        /// A request asks for more work than its budget allows (blend parts, offset + count, basket size, text).
        public static let limitExceeded = Code(.limitExceeded)
        /// A request ran past its deadline and was stopped.
        public static let timeout = Code(.timeout)
        /// The queue for this kind of request is full: try again later.
        public static let busy = Code(.busy)
        /// The request was cancelled (its client went away).
        public static let cancelled = Code(.cancelled)

        /// A request line recd could not read: not JSON where it began with `{`, no `"q"`, a bad `"params"`.
        public static let badRequest = Code(.badRequest)
        /// A request line longer than recd's line limit; the connection goes on with the next line.
        public static let tooLarge = Code(.tooLarge)
        /// A write sent to a recd started with `--read-only`.
        public static let readOnly = Code(.readOnly)
        /// recd is stopping and takes no new requests.
        public static let shuttingDown = Code(.shuttingDown)
        /// recd already serves as many connections as it allows; this one is closed after the answer.
        public static let tooManyConnections = Code(.tooManyConnections)
        /// A failure that is not a ``RecDBError`` (a bug): the message says what was thrown.
        public static let `internal` = Code(.internal)
        /// No server listens on the socket (client side).
        public static let unavailable = Code(.unavailable)
        /// The server closed the connection before answering (client side).
        public static let closed = Code(.closed)
        /// The server's answer could not be read as the wire protocol's response (client side).
        public static let badResponse = Code(.badResponse)

        /// The code named `name` on the wire (`not_found`, `bad_request`, …), or nil for a name this version does not
        /// know (a newer server's).
        public init?(wireName name: String) {
            guard let base = Base(rawValue: name) else { return nil }
            self.base = base
        }

        /// Every code of the table, in its order (the wire schema's `code` enum lists the same names).
        package static var all: [Code] { Base.allCases.map(Code.init) }

        /// The code in snake case as it appears on the wire and in `--json` output: `not_found`, `invalid_argument`, ….
        public var description: String { base.rawValue }
    }

    /// What kind of failure this is; switch on it rather than on the message.
    public var code: Code
    /// What went wrong, for people; not meant to be parsed, and may change between versions.
    public var message: String
    /// Where the failure happened, such as `events.csv:17` or a database path; nil when not applicable.
    public var location: String?
    /// The LMDB status code, when an LMDB call failed.
    public var lmdbStatus: Int32?
    /// A lower-level error that caused this one.
    public var cause: (any Error & Sendable)?
    /// For query errors: the 0-based character offset in the query text where the problem was found.
    public var position: Int?

    /// Creates an error; only `code` and `message` are required.
    public init(
        _ code: Code, _ message: String, location: String? = nil, lmdbStatus: Int32? = nil,
        cause: (any Error & Sendable)? = nil, position: Int? = nil
    ) {
        self.code = code
        self.message = message
        self.location = location
        self.lmdbStatus = lmdbStatus
        self.cause = cause
        self.position = position
    }

    /// "location: message", followed by " (caused by: …)" when there is a cause.
    public var description: String {
        var text = location.map { "\($0): \(message)" } ?? message
        if let cause { text += " (caused by: \(cause))" }
        return text
    }
}
