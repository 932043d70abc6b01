import CorralPlatform
import Foundation
import Testing

/// The strict JSON parser: what RFC 8259 allows reads as Foundation reads it; what it does not,
/// or what is ambiguous, is refused with where.
@Suite("JSON, strictly")
struct JSONParserTests {
    @Test func documentsReadAsJSONSays() throws {
        let text = #" {"a": [1, -2.5e3, 0, true, false, null], "b": {"c": "d\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00"}, "": ""} "#
        let value = try JSONParser.parse(Array(text.utf8))
        let expected: JSONValue = .object([
            "a": .array([.number(1), .number(-2500), .number(0), .bool(true), .bool(false), .null]),
            "b": .object(["c": .string("d\"\\/\u{8}\u{C}\n\r\té😀")]),
            "": .string(""),
        ])
        #expect(value == expected)
        #expect(try JSONParser.parse(Array("\u{FEFF}[]".utf8)) == .array([]), "a byte order mark is skipped")
        #expect(try JSONParser.parse(Array(#""héllo""#.utf8)) == .string("héllo"))
    }

    @Test(arguments: [
        ("", "line 1, column 1: the document is empty"),
        ("{\"a\": 1,}", "line 1, column 9: a trailing comma before '}'"),
        ("[1,]", "line 1, column 4: a trailing comma before ']'"),
        ("{\"a\": 1, \"a\": 2}", "line 1, column 10: duplicate key 'a'"),
        ("{\"a\": 1, \"\\u0061\": 2}", "line 1, column 10: duplicate key 'a'"),
        ("{'a': 1}", "line 1, column 2: expected a key in double quotes, found '''"),
        ("{\"a\" 1}", "line 1, column 6: expected ':' after the key 'a', found '1'"),
        ("[1 2]", "line 1, column 4: expected ',' or ']' in an array, found '2'"),
        ("{\n  \"a\": tru}", "line 2, column 8: unexpected 't' where a value should be"),
        ("[01]", "line 1, column 3: a number may not start with 0"),
        ("[1.]", "line 1, column 4: a number needs digits after '.'"),
        ("[1e400]", "line 1, column 2: the number 1e400 is out of range"),
        ("[-]", "line 1, column 3: a number needs digits"),
        ("\"a\u{1}b\"", "line 1, column 3: a control character (\\u0001) inside a string; write it escaped"),
        ("\"\\ud800\"", "a lone surrogate \\ud800"),
        ("\"\\x41\"", "line 1, column 3: an unknown escape: a backslash before x"),
        ("\"\\\u{e9}\"", "line 1, column 3: an unknown escape: a backslash before byte 0xc3"),
        ("{\"\(String(repeating: "k", count: 100))\": 1, \"\(String(repeating: "k", count: 100))\": 2}", "duplicate key '\(String(repeating: "k", count: 64))…'"),
        ("\"abc", "line 1, column 1: a string that never ends"),
        ("{} {}", "line 1, column 4: unexpected '{' after the document"),
        ("NaN", "line 1, column 1: unexpected 'N' where a value should be"),
    ])
    func refusalsSayWhatAndWhere(text: String, says: String) {
        #expect(throws: JSONParser.SyntaxError.self) { try JSONParser.parse(Array(text.utf8)) }
        do {
            _ = try JSONParser.parse(Array(text.utf8))
        } catch {
            #expect(error.description.contains(says), "\(error)")
        }
    }

    /// Text and escapes alternating (each run was appended to the string's scalars: quadratic).
    @Test func longStringsWithEscapesRead() throws {
        let text = String(repeating: #"é\t"#, count: 50_000)
        #expect(try JSONParser.parse(Array("\"\(text)\"".utf8)) == .string(String(repeating: "é\t", count: 50_000)))
    }

    @Test func invalidUTF8AndDeepNestingAreRefused() {
        #expect(throws: JSONParser.SyntaxError.self) { try JSONParser.parse([0x22, 0xC3, 0x28, 0x22]) }
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        do {
            _ = try JSONParser.parse(Array(deep.utf8))
            Issue.record("100,000 levels were read")
        } catch {
            #expect(error.problem.contains("nested more than 512 levels deep"))
        }
        let fine = String(repeating: "[", count: 500) + String(repeating: "]", count: 500)
        #expect((try? JSONParser.parse(Array(fine.utf8))) != nil)
    }
}
