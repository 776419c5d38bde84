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
    }

    package struct Failure: Error {
        package var code: String
        package var message: String
        package var position: Int?

        /// A failure with a wire code (`bad_request`, `too_large`, …), a message and the byte or character offset.
        package init(code: String, message: String, position: Int?) {
            self.code = code
            self.message = message
            self.position = position
        }
    }

    /// Parses one line (without its newline). Throws `Failure` for bad envelopes and invalid UTF-8.
    package static func request(_ bytes: [UInt8]) throws -> Request {
        var line = bytes
        if line.last == UInt8(ascii: "\r") { line.removeLast() }
        guard let text = String(validating: line, as: UTF8.self) else {
            let offset = firstInvalidUTF8(line)
            throw Failure(code: "invalid_utf8", message: "the request is not valid UTF-8 (byte \(offset))", position: offset)
        }
        let trimmed = text.drop { $0 == " " || $0 == "\t" }
        guard trimmed.first == "{" else { return Request(id: "null", query: text, parameters: [:]) }
        let envelope: QueryValue
        do {
            envelope = try QueryValue(jsonBytes: line)
        } catch let error as RecDBError {
            throw Failure(code: "bad_request", message: "the request is not valid JSON: \(error.message)", position: error.position)
        }
        guard case .object(let object) = envelope else {
            throw Failure(code: "bad_request", message: "a JSON request must be an object", position: 0)
        }
        var id = "null"
        if let value = object["id"] {
            guard isScalar(value) else {
                throw Failure(code: "bad_request", message: "\"id\" must be a string, a number or null", position: nil)
            }
            id = value.jsonText
        }
        guard case .string(let query)? = object["q"] else {
            throw Failure(code: "bad_request", message: "the request has no \"q\" string", position: nil)
        }
        var parameters: [String: QueryValue] = [:]
        if let raw = object["params"] {
            guard case .object(let dictionary) = raw else {
                throw Failure(code: "bad_request", message: "\"params\" must be an object", position: nil)
            }
            parameters = dictionary
        }
        return Request(id: id, query: query, parameters: parameters)
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

    /// A failure line (without its newline) as UTF-8.
    package static func failure(id: String, _ failure: Failure) -> [UInt8] {
        var error: [String: QueryValue] = ["code": .string(failure.code), "message": .string(failure.message)]
        if let position = failure.position { error["at"] = .number(Double(position)) }
        return Array("{\"id\":\(id),\"ok\":false,\"error\":\(QueryValue.object(error).jsonText)}".utf8)
    }

    /// A RecDB error as a wire failure.
    package static func failure(_ error: Error) -> Failure {
        if let failure = error as? Failure { return failure }
        if let error = error as? RecDBError {
            return Failure(code: error.code.description, message: error.description, position: error.position)
        }
        return Failure(code: "internal", message: "\(error)", position: nil)
    }
}
