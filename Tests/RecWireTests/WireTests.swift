import Foundation
import Testing

@testable import RecWire

/// The line protocol both sides use: recd reads requests and writes responses with ``Wire``, RecClient writes
/// requests and reads responses with it, and every error code comes from one table.
@Suite("Wire protocol")
struct WireTests {
    @Test func aBareLineIsAQueryAndAnEnvelopeCarriesItsIDAndParameters() throws {
        let bare = try Wire.request(Array("SHOW STATS\r".utf8))
        #expect(bare.id == "null")
        #expect(bare.query == "SHOW STATS")
        // Only a line that starts with `{` is an envelope: anything else is the statement's text.
        #expect(try Wire.request(Array("[1]".utf8)).query == "[1]")
        let line = Wire.requestLine(id: 7, query: "SHOW USER $u", parameters: ["u": "u42", "n": 3])
        let request = try Wire.request(line)
        #expect(request.id == "7")
        #expect(request.query == "SHOW USER $u")
        #expect(request.parameters == ["u": "u42", "n": 3])
    }

    @Test(arguments: [
        ("{\"q\": 5}", "bad_request"),
        ("{\"id\": [1], \"q\": \"SHOW STATS\"}", "bad_request"),
        ("{\"q\": \"SHOW STATS\", \"params\": [1]}", "bad_request"),
        ("{\"q\": ", "bad_request"),
        ("{\"id\": 1}", "bad_request"),
    ])
    func badEnvelopesFailWithTheirCode(line: String, code: String) throws {
        let error = #expect(throws: RecDBError.self) { _ = try Wire.request(Array(line.utf8)) }
        #expect(error?.code.description == code, "\(line): \(String(describing: error))")
    }

    @Test func invalidUTF8NamesItsByteOffset() throws {
        let error = #expect(throws: RecDBError.self) { _ = try Wire.request([0x53, 0x48, 0xFF, 0x57]) }
        #expect(error?.code == .invalidUTF8)
        #expect(error?.position == 2)
    }

    @Test func aClientReadsBackWhatTheServerWrites() throws {
        let success = Wire.success(id: "3", result: ["items": [["id": "i7", "score": 0.5]]], tookMicroseconds: 12)
        #expect(try Wire.response(success) == ["items": [["id": "i7", "score": 0.5]]])
        let failure = Wire.failure(id: "3", RecDBError(.syntax, "expected ITEMS", position: 13))
        let error = #expect(throws: RecDBError.self) { _ = try Wire.response(failure) }
        #expect(error?.code == .syntax)
        #expect(error?.message == "expected ITEMS")
        #expect(error?.position == 13)
    }

    @Test func otherErrorsAreInternalAndUnknownCodesAreBadResponses() throws {
        struct Strange: Error {}
        let line = Wire.failure(id: "null", Strange())
        #expect(try QueryValue(jsonBytes: line)["error"]?["code"] == "internal")
        let newer = Array(#"{"id":1,"ok":false,"error":{"code":"quota","message":"over quota"}}"#.utf8)
        let error = #expect(throws: RecDBError.self) { _ = try Wire.response(newer) }
        #expect(error?.code == .badResponse)
        #expect(error?.message.contains("quota") == true)
        let garbage = #expect(throws: RecDBError.self) { _ = try Wire.response(Array("HTTP/1.1 400".utf8)) }
        #expect(garbage?.code == .badResponse)
    }

    @Test func everyCodeRoundTripsByItsWireName() {
        let names = RecDBError.Code.all.map(\.description)
        #expect(Set(names).count == names.count, "two codes share a name")
        for code in RecDBError.Code.all { #expect(RecDBError.Code(wireName: code.description) == code) }
        #expect(RecDBError.Code(wireName: "no_such_code") == nil)
    }

    /// `Schemas/wire-protocol.schema.json` lists the codes a server may answer with: the table without the codes
    /// only a client produces.
    @Test func theSchemaListsTheServersCodes() throws {
        let schemaURL = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Schemas/wire-protocol.schema.json")
        let schema = try QueryValue(jsonBytes: Array(try Data(contentsOf: schemaURL)))
        let listed = schema["$defs"]?["failure"]?["properties"]?["error"]?["properties"]?["code"]?["enum"]
        let names = Set((listed?.arrayValue ?? []).compactMap { value -> String? in
            if case .string(let name) = value { return name }
            return nil
        })
        let clientSide: Set<RecDBError.Code> = [.unavailable, .closed, .badResponse]
        let served = Set(RecDBError.Code.all.filter { !clientSide.contains($0) }.map(\.description))
        #expect(names == served)
    }
}
