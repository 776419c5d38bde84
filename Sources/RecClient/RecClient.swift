@_exported import RecWire
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A client of `recd` for local apps: one Unix-socket connection, requests answered in order.
///
/// ```swift
/// let client = try RecClient(socketPath: "shop.recdb/recd.sock")
/// let items = try await client.recommend("RECOMMEND 10 ITEMS FOR USER $u EXCLUDE SEEN", parameters: ["u": "u42"])
/// for item in items { print(item.id, item.score, item.explanation ?? "") }
/// ```
///
/// Calls on one client are serialised; open several clients for parallel requests. Failures are ``RecDBError``s: the
/// server's code (`syntax`, `not_found`, `permission_denied`, …) or, on this side of the socket, `unavailable`,
/// `closed`, `io` or `bad_response`.
public final class RecClient: Sendable {
    /// The path the client connected to, as given (relative paths resolve against the working directory at `init`).
    public let socketPath: String
    private let fd: Int32
    /// Bytes received past the last response line. Held for a whole exchange, which serialises the calls.
    private let received = Mutex<[UInt8]>([])
    private let queue = DispatchQueue(label: "recclient")
    private let lastID = Atomic<Int>(0)

    /// Connects to the server's socket.
    public init(socketPath: String) throws {
        self.socketPath = socketPath
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw RecDBError(.io, "cannot create a socket: \(String(cString: strerror(errno)))") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(socketPath.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            close(fd)
            throw RecDBError(.invalidArgument, "socket path too long: \(socketPath)")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in for (i, b) in bytes.enumerated() { raw[i] = b } }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard result == 0 else {
            let message = String(cString: strerror(errno))
            close(fd)
            throw RecDBError(.unavailable, "no server on \(socketPath): \(message)")
        }
    }

    deinit { close(fd) }

    /// Sends one raw request line and returns the raw response line (without newlines). Blocking.
    public func exchange(_ line: String) throws -> String {
        try received.withLock { buffer in
            try sendAll(Array((line + "\n").utf8))
            return try readLine(&buffer)
        }
    }

    /// Runs a query with bound parameters and returns its result, or throws the server's error. Blocking.
    public func querySync(_ query: String, parameters: [String: Any] = [:]) throws -> Any {
        try Self.result(of: exchange(requestLine(query, parameters: parameters)))
    }

    /// Runs a query; the result as Foundation JSON values (dictionaries, arrays, strings, numbers).
    public func query(_ query: String, parameters: [String: Any] = [:]) async throws -> Any {
        // Only text crosses to the client's queue: the request line there, the response line back.
        let line = try requestLine(query, parameters: parameters)
        let response: String = try await withCheckedThrowingContinuation { continuation in
            queue.async {
                do {
                    continuation.resume(returning: try self.exchange(line))
                } catch {
                    continuation.resume(throwing: error)
                }
            }
        }
        return try Self.result(of: response)
    }

    /// The JSON request line of `query` with the next request id (``Wire`` frames it, as recd reads it).
    private func requestLine(_ query: String, parameters: [String: Any]) throws -> String {
        let id = lastID.wrappingAdd(1, ordering: .relaxed).newValue
        let bound = try parameters.mapValues { try QueryValue(json: $0) }
        return String(decoding: Wire.requestLine(id: id, query: query, parameters: bound), as: UTF8.self)
    }

    /// The result in a response line as Foundation JSON values, or the server's error thrown as a ``RecDBError``.
    private static func result(of response: String) throws -> Any {
        let result = try Wire.response(Array(response.utf8))
        return try JSONSerialization.jsonObject(with: Data(result.jsonText.utf8), options: .fragmentsAllowed)
    }

    /// Runs a `RECOMMEND … ITEMS …` query and decodes its items.
    public func recommend(_ query: String, parameters: [String: Any] = [:]) async throws -> [RecommendedItem] {
        let result = try await self.query(query, parameters: parameters)
        guard let object = result as? [String: Any], let list = (object["items"] ?? object["users"]) as? [Any] else {
            throw RecDBError(.badResponse, "the result has no items")
        }
        let data = try JSONSerialization.data(withJSONObject: list)
        return try JSONDecoder().decode([RecommendedItem].self, from: data)
    }

    /// Runs a statement built with ``RecommendStatement`` and decodes its items (or users).
    public func recommend(_ statement: RecommendStatement) async throws -> [RecommendedItem] {
        try await recommend(statement.text)
    }

    private func sendAll(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes[offset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if sent < 0 {
                if errno == EINTR { continue }
                throw RecDBError(.io, "send failed: \(String(cString: strerror(errno)))")
            }
            offset += sent
        }
    }

    private func readLine(_ buffer: inout [UInt8]) throws -> String {
        while true {
            if let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                let line = Array(buffer[..<newline])
                buffer.removeSubrange(...newline)
                return String(decoding: line, as: UTF8.self)
            }
            // Wait in poll, not in recv: a thread blocked in recv is also woken each time the server reads our
            // request (the socket's write-space wake-up), for nothing; poll wakes only when there is an answer.
            var waiting = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            if poll(&waiting, 1, -1) < 0 {
                if errno == EINTR { continue }
                throw RecDBError(.closed, "waiting for the server's answer: \(String(cString: strerror(errno)))")
            }
            // Into scratch space on the stack: nothing to allocate or zero per read.
            let count = withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 65536) { scratch -> Int in
                let count = recv(fd, scratch.baseAddress, scratch.count, 0)
                if count > 0 { buffer.append(contentsOf: scratch[..<count]) }
                return count
            }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { throw RecDBError(.closed, "the server closed the connection") }
        }
    }
}

/// An item (or user) of a `RECOMMEND` result, decoded from the one result shape that recd, `recctl query` and
/// `recctl recommend --json` print (`{"items": [{"id", "score", "model", "title"?, "explanation"?, "provenance"?}]}`).
public struct RecommendedItem: Decodable, Sendable, Hashable {
    /// The external id of the item, or of the user for `USERS FOR ITEM` statements.
    public var id: String
    /// The score that ranked it: the model's own (unbounded) score, or a blend's weighted sum of normalised scores.
    public var score: Double
    /// The model that produced it (`als`, `blend`, …).
    public var model: String
    /// The item's title; nil when the item has none, and for users.
    public var title: String?
    /// With `EXPLAIN`: a sentence for shoppers.
    public var explanation: String?
    /// With `EXPLAIN`: what drove it.
    public var provenance: Provenance?
    /// With `EXPLAIN`: `generated` when the language model wrote ``explanation`` (and the faithfulness check
    /// accepted it), `template` otherwise.
    public var explanationSource: String?
    /// With `EXPLAIN GENERATED`, when the template was shown: why (`unsupported_statement`, `busy`, `deadline`,
    /// `no_facts`, `no_fact_cited`, `model_unavailable`).
    public var fallbackReason: String?
    /// With `EXPLAIN GENERATED`: the facts a generated sentence could cite.
    public var facts: Facts?

    enum CodingKeys: String, CodingKey {
        case id, score, model, title, explanation, provenance, facts
        case explanationSource = "explanation_source"
        case fallbackReason = "fallback_reason"
    }

    /// The typed facts behind a generated explanation (`"facts"` in the wire form).
    public struct Facts: Decodable, Sendable, Hashable {
        /// `collaborative`, `content`, `session`, `popularity` or `text_match`.
        public var kind: String
        /// The recommended item's title.
        public var item: String
        /// The item the reason rests on.
        public var source: Source?
        /// The category the item and its source share (or the item's, for popularity).
        public var category: String?
        /// The brand the item and its source share.
        public var brand: String?
        /// Shoppers who chose both the item and its source.
        public var coChosenBy: Int?
        /// `cheaper`, `similar` or `pricier` than the user's usual price.
        public var priceVsUsual: String?
        /// `rising`, `steady` or `falling`.
        public var trend: String?
        /// For text matches: the phrase searched for.
        public var phrase: String?

        enum CodingKeys: String, CodingKey {
            case kind, item, source, category, brand, trend, phrase
            case coChosenBy = "co_chosen_by"
            case priceVsUsual = "price_vs_usual"
        }

        /// The source item of a fact set.
        public struct Source: Decodable, Sendable, Hashable {
            /// Its external id.
            public var id: String
            /// Its title (else its id).
            public var name: String
            /// The user's event with it (`purchase`, `view`, …).
            public var event: String?
            /// Days between that event and the shop's newest event.
            public var daysAgo: Int?
            /// Whether it is the newest item in the user's history.
            public var isLatest: Bool?

            enum CodingKeys: String, CodingKey {
                case id, name, event
                case daysAgo = "days_ago"
                case isLatest = "is_latest"
            }
        }
    }

    /// Why an item was recommended.
    public struct Provenance: Decodable, Sendable, Hashable {
        /// `history`, `session`, `basket`, `similar_item`, `content`, `popularity`, `audience`, `matching` or
        /// `profile`.
        public var reason: String
        /// The items behind it, most influential first.
        public var items: [SourceItem]
        /// For popularity: the category it is popular in.
        public var category: String?
        /// Neighbour sessions or users that voted, when the model has them.
        public var neighbours: Int?
        /// The default-chain model that filled this place because the named models had too few results.
        public var filledBy: String?

        enum CodingKeys: String, CodingKey {
            case reason, items, category, neighbours
            case filledBy = "filled_by"
        }
    }

    /// An item behind a recommendation: its id, title and, for history items, the event type.
    public struct SourceItem: Decodable, Sendable, Hashable {
        /// The source item's external id.
        public var id: String
        /// The source item's title; nil when it has none.
        public var title: String?
        /// For `history` and `content` reasons: the event type that made the item count (`purchase`, …); else nil.
        public var event: String?
    }
}
