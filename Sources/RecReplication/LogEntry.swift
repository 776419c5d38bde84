import RecDB
import RecWire

/// One write statement as the replication log carries it: the text and bound parameters the client sent, the time
/// the accepting node gave it (every node runs it at that time, so `EVENT`s without `AT` store the same timestamp
/// everywhere), and who accepted it under which id (that node answers its client when it applies the entry).
///
/// Encoded as one JSON object: `{"v":1,"q":"EVENT view USER $u ITEM 'i1'","p":{"u":"u1"},"t":1765000000000,
/// "o":"n1","w":"n1-5f3a-17"}`.
public struct LogEntry: Sendable, Equatable {
    /// The statement's text as the client sent it.
    public var query: String
    /// The statement's bound parameters.
    public var parameters: [String: QueryValue]
    /// The time the accepting node gave the write.
    public var acceptedAt: Timestamp
    /// The node that accepted the write (`recd --node-id`).
    public var origin: String
    /// The write's id, unique in the cluster: also the JetStream message id that drops resent duplicates.
    public var writeID: String

    /// An entry for a write just accepted.
    public init(query: String, parameters: [String: QueryValue], acceptedAt: Timestamp, origin: String, writeID: String) {
        self.query = query
        self.parameters = parameters
        self.acceptedAt = acceptedAt
        self.origin = origin
        self.writeID = writeID
    }

    /// The entry as the log stores it (UTF-8 JSON).
    public var encoded: [UInt8] {
        var bytes: [UInt8] = []
        QueryValue.object([
            "v": .number(1), "q": .string(query), "p": .object(parameters), "t": .number(Double(acceptedAt.milliseconds)),
            "o": .string(origin), "w": .string(writeID),
        ]).writeJSON(into: &bytes)
        return bytes
    }

    /// Decodes an entry; throws `malformed_input` naming the field for anything else.
    public init(decoding bytes: [UInt8]) throws {
        guard case .object(let object) = try QueryValue(jsonBytes: bytes) else {
            throw RecDBError(.malformedInput, "a replication log entry must be a JSON object")
        }
        guard case .number(1)? = object["v"] else {
            throw RecDBError(.malformedInput, "replication log entry version \(object["v"]?.jsonText ?? "missing"); this recd reads version 1")
        }
        guard case .string(let query)? = object["q"], case .object(let parameters)? = object["p"],
            case .number(let time)? = object["t"], let milliseconds = Int64(exactly: time),
            case .string(let origin)? = object["o"], case .string(let writeID)? = object["w"]
        else {
            throw RecDBError(.malformedInput, "a replication log entry needs q, p, t, o and w: \(String(decoding: bytes.prefix(120), as: UTF8.self))")
        }
        self.init(
            query: query, parameters: parameters, acceptedAt: Timestamp(milliseconds: milliseconds), origin: origin,
            writeID: writeID)
    }
}
