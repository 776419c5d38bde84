import Foundation
import Testing

@testable import RecDB

/// QueryValue's JSON reader and writer: what recd parses every request envelope with and writes every answer in.
@Suite("QueryValue JSON")
struct QueryValueJSONTests {
    @Test func parsesEveryKindOfValue() throws {
        let text = #"{"id": 7, "q": "RECOMMEND $n ITEMS", "params": {"u": "u\"42\\\n\u00e9\ud83d\ude00", "n": -1.5e2, "t": true, "f": false, "z": null, "list": [1, [], {}]}}"#
        let value = try QueryValue(jsonBytes: Array(text.utf8))
        #expect(value["id"] == .number(7))
        #expect(value["q"] == .string("RECOMMEND $n ITEMS"))
        let params = try #require(value["params"])
        #expect(params["u"] == .string("u\"42\\\né😀"))
        #expect(params["n"] == .number(-150))
        #expect(params["t"] == .bool(true) && params["f"] == .bool(false) && params["z"] == .null)
        #expect(params["list"] == .array([.number(1), .array([]), .object([:])]))
    }

    @Test func writtenTextReadsBackAndMatchesFoundation() throws {
        let value: QueryValue = [
            "text": .string("quote \" backslash \\ newline \n tab \t bell \u{07} del \u{7F} line \u{2028} é 😀"),
            "numbers": [0, 1.5, -2, 1e300], "flags": [true, false, nil], "nested": ["a": ["b": "c"]],
        ]
        let text = value.jsonText
        #expect(try QueryValue(jsonBytes: Array(text.utf8)) == value)
        let foundation = try JSONSerialization.jsonObject(with: Data(text.utf8))
        #expect(try QueryValue(json: foundation) == value)
        #expect(text.contains(#"\u2028"#) && text.contains(#"\u0007"#) && text.contains(#"\u007f"#))
    }

    @Test(arguments: [
        "", "{", "[1,]", "{\"a\" 1}", "{\"a\":1,}", "01", "1.", "-", "1e", "\"\\x\"", "\"\u{01}\"", "tru", "nul",
        "\"\\ud800\"", "\"\\udc00\"", "{} x", "\"unclosed", String(repeating: "[", count: 100) + String(repeating: "]", count: 100),
    ])
    func malformedTextIsAnErrorWithItsOffset(text: String) {
        let error = #expect(throws: RecDBError.self) { _ = try QueryValue(jsonBytes: Array(text.utf8)) }
        #expect(error?.code == .malformedInput, "\(text): \(String(describing: error))")
        #expect(error?.position != nil)
    }
}
