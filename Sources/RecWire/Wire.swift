import Foundation

/// The wire protocol (`Schemas/wire-protocol.schema.json`): one request per line, one JSON response line per request.
///
/// A line that starts with `{` is a JSON envelope `{"id": …, "q": "…", "params": {…}}`; any other line is a bare
/// query, so `socat - UNIX-CONNECT:recd.sock` works by hand. Responses are
/// `{"id": …, "ok": true, "result": …, "took_us": N}` or
/// `{"id": …, "ok": false, "error": {"code": "syntax", "message": "…", "at": 17}}`.
package enum Wire {
    package struct Request {
        /// The client's id, echoed as JSON text (`null` when none was given).
        package var id: String
        package var query: String
        package var parameters: [String: QueryValue]
        /// `"min_seq": N`: a read waits until the node has applied the replication log up to N (read-your-writes).
        package var minSequence: UInt64? = nil
    }

    /// Parses one line (without its newline). Throws ``RecDBError`` (`bad_request`, `invalid_utf8`) for bad envelopes and invalid UTF-8.
    package static func request(_ bytes: [UInt8]) throws -> Request {
        var line = bytes
        if line.last == UInt8(ascii: "\r") { line.removeLast() }
        guard let text = String(validating: line, as: UTF8.self) else {
            let offset = firstInvalidUTF8(line)
            throw RecDBError(.invalidUTF8, "the request is not valid UTF-8 (byte \(offset))", position: offset)
        }
        let trimmed = text.drop { $0 == " " || $0 == "\t" }
        guard trimmed.first == "{" else { return Request(id: "null", query: text, parameters: [:]) }
        let envelope: QueryValue
        do {
            envelope = try QueryValue(jsonBytes: line)
        } catch let error as RecDBError {
            throw RecDBError(.badRequest, "the request is not valid JSON: \(error.message)", position: error.position)
        }
        guard case .object(let object) = envelope else {
            throw RecDBError(.badRequest, "a JSON request must be an object", position: 0)
        }
        var id = "null"
        if let value = object["id"] {
            guard isScalar(value) else {
                throw RecDBError(.badRequest, "\"id\" must be a string, a number or null")
            }
            id = value.jsonText
        }
        guard case .string(let query)? = object["q"] else {
            throw RecDBError(.badRequest, "the request has no \"q\" string")
        }
        var parameters: [String: QueryValue] = [:]
        if let raw = object["params"] {
            guard case .object(let dictionary) = raw else {
                throw RecDBError(.badRequest, "\"params\" must be an object")
            }
            parameters = dictionary
        }
        var minSequence: UInt64?
        if let raw = object["min_seq"] {
            guard case .number(let number) = raw, let sequence = UInt64(exactly: number) else {
                throw RecDBError(.badRequest, "\"min_seq\" must be a whole number of at least 0, not \(raw.jsonText)")
            }
            minSequence = sequence
        }
        return Request(id: id, query: query, parameters: parameters, minSequence: minSequence)
    }

    package static func isScalar(_ value: QueryValue) -> Bool {
        switch value {
        case .null, .string, .number: true
        default: false
        }
    }

    /// The offset of the first byte that does not start a valid UTF-8 sequence.
    package static func firstInvalidUTF8(_ bytes: [UInt8]) -> Int {
        var offset = 0
        while offset < bytes.count {
            let lead = bytes[offset]
            let length = lead < 0x80 ? 1 : lead >> 5 == 0b110 ? 2 : lead >> 4 == 0b1110 ? 3 : lead >> 3 == 0b11110 ? 4 : 0
            guard length > 0, offset + length <= bytes.count,
                String(validating: bytes[offset..<offset + length], as: UTF8.self) != nil
            else { return offset }
            offset += length
        }
        return offset
    }

    /// A success line (without its newline) as UTF-8.
    package static func success(id: String, result: QueryValue, tookMicroseconds: Int) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(512)
        bytes += "{\"id\":".utf8
        bytes += id.utf8
        bytes += ",\"ok\":true,\"result\":".utf8
        result.writeJSON(into: &bytes)
        bytes += ",\"took_us\":".utf8
        bytes += String(tookMicroseconds).utf8
        bytes.append(UInt8(ascii: "}"))
        return bytes
    }

    /// A failure line (without its newline) as UTF-8: a ``RecDBError`` with its code, its description (location,
    /// message, cause) and position; any other error as `internal`.
    package static func failure(id: String, _ error: any Error) -> [UInt8] {
        let failure = error as? RecDBError ?? RecDBError(.internal, "\(error)")
        var fields: [String: QueryValue] = [
            "code": .string(failure.code.description), "message": .string(failure.description),
        ]
        if let position = failure.position { fields["at"] = .number(Double(position)) }
        return Array("{\"id\":\(id),\"ok\":false,\"error\":\(QueryValue.object(fields).jsonText)}".utf8)
    }

    // MARK: - The client's side

    /// The JSON request line (without its newline) of `query` with a numeric id and bound parameters.
    package static func requestLine(id: Int, query: String, parameters: [String: QueryValue]) -> [UInt8] {
        var envelope: [String: QueryValue] = ["id": .number(Double(id)), "q": .string(query)]
        if !parameters.isEmpty { envelope["params"] = .object(parameters) }
        var bytes: [UInt8] = []
        QueryValue.object(envelope).writeJSON(into: &bytes)
        return bytes
    }

    /// The result of a response line, or the server's error thrown as a ``RecDBError`` with its code (a code this
    /// version does not know, or a line that is not a response, is `bad_response`).
    package static func response(_ line: [UInt8]) throws -> QueryValue {
        let answer: QueryValue
        do {
            answer = try QueryValue(jsonBytes: line)
        } catch {
            throw RecDBError(.badResponse, "the server sent \(String(decoding: line.prefix(80), as: UTF8.self))")
        }
        guard case .object(let object) = answer, case .bool(let ok)? = object["ok"] else {
            throw RecDBError(.badResponse, "the server sent \(String(decoding: line.prefix(80), as: UTF8.self))")
        }
        if ok { return object["result"] ?? .null }
        guard case .string(let name)? = answer["error"]?["code"] else {
            throw RecDBError(.badResponse, "the server failed without an error code: \(answer.jsonText.prefix(80))")
        }
        var message = "the server failed"
        if case .string(let text)? = answer["error"]?["message"] { message = text }
        var position: Int?
        if case .number(let at)? = answer["error"]?["at"], let offset = Int(exactly: at) { position = offset }
        guard let code = RecDBError.Code(wireName: name) else {
            throw RecDBError(.badResponse, "unknown error code '\(name)' from the server: \(message)", position: position)
        }
        throw RecDBError(code, message, position: position)
    }
}
