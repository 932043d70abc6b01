/// A JSON document read by RFC 8259's grammar and nothing looser: no trailing commas, comments
/// or single quotes (Foundation's parser takes trailing commas), no key twice in one object (a
/// second `session_id`, a second `agents` was dropped without a word), no number out of a
/// `Double`'s range, no control character or invalid UTF-8 in a string. What it refuses is said
/// with where: `line 3, column 14: duplicate key 'agents'`.
public struct JSONParser {
    /// Why a document is not JSON, and where (1-based, in bytes).
    public struct SyntaxError: Error, Sendable, Equatable, CustomStringConvertible {
        public let problem: String
        public let line: Int
        public let column: Int
        public var description: String { "line \(line), column \(column): \(problem)" }
    }

    /// Deeper nesting is refused rather than recursed into (a hostile body).
    static let maxDepth = 512

    private let bytes: [UInt8]
    private var index = 0

    public static func parse(_ bytes: some Collection<UInt8>) throws(SyntaxError) -> JSONValue {
        var parser = JSONParser(bytes: Array(bytes))
        // A byte order mark, which some editors write, is not part of the document.
        if parser.bytes.starts(with: [0xEF, 0xBB, 0xBF]) { parser.index = 3 }
        parser.skipWhitespace()
        guard parser.index < parser.bytes.count else { throw parser.error("the document is empty") }
        let value = try parser.value(depth: 0)
        parser.skipWhitespace()
        guard parser.index == parser.bytes.count else { throw parser.error("unexpected \(parser.shown) after the document") }
        return value
    }

    private init(bytes: [UInt8]) {
        self.bytes = bytes
    }

    private mutating func value(depth: Int) throws(SyntaxError) -> JSONValue {
        guard depth < Self.maxDepth else { throw error("nested more than \(Self.maxDepth) levels deep") }
        guard let byte = peek else { throw error("the document ends where a value should be") }
        switch byte {
        case UInt8(ascii: "{"): return try object(depth: depth)
        case UInt8(ascii: "["): return try array(depth: depth)
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): return try literal("true", .bool(true))
        case UInt8(ascii: "f"): return try literal("false", .bool(false))
        case UInt8(ascii: "n"): return try literal("null", .null)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
        default: throw error("unexpected \(shown) where a value should be")
        }
    }

    private mutating func object(depth: Int) throws(SyntaxError) -> JSONValue {
        index += 1
        var members: [String: JSONValue] = [:]
        skipWhitespace()
        if peek == UInt8(ascii: "}") {
            index += 1
            return .object(members)
        }
        while true {
            skipWhitespace()
            guard peek == UInt8(ascii: "\"") else { throw error("expected a key in double quotes, found \(shown)") }
            let keyStart = index
            let key = try string()
            guard members[key] == nil else {
                index = keyStart
                throw error("duplicate key '\(Self.quoted(key))'")
            }
            skipWhitespace()
            guard peek == UInt8(ascii: ":") else { throw error("expected ':' after the key '\(Self.quoted(key))', found \(shown)") }
            index += 1
            skipWhitespace()
            members[key] = try value(depth: depth + 1)
            if try closes("}", in: "an object") { return .object(members) }
        }
    }

    private mutating func array(depth: Int) throws(SyntaxError) -> JSONValue {
        index += 1
        var elements: [JSONValue] = []
        skipWhitespace()
        if peek == UInt8(ascii: "]") {
            index += 1
            return .array(elements)
        }
        while true {
            skipWhitespace()
            elements.append(try value(depth: depth + 1))
            if try closes("]", in: "an array") { return .array(elements) }
        }
    }

    /// After a member or an element: true at the container's closing bracket, false after a
    /// comma (either taken); anything else, or a comma right before the bracket, is refused.
    private mutating func closes(_ bracket: Unicode.Scalar, in container: String) throws(SyntaxError) -> Bool {
        skipWhitespace()
        let close = UInt8(ascii: bracket)
        if peek == close {
            index += 1
            return true
        }
        guard peek == UInt8(ascii: ",") else { throw error("expected ',' or '\(bracket)' in \(container), found \(shown)") }
        index += 1
        skipWhitespace()
        if peek == close { throw error("a trailing comma before '\(bracket)'") }
        return false
    }

    /// Its bytes are gathered (escapes written as UTF-8) and made a `String` once: appending to a
    /// string's scalars run by run was quadratic where text and escapes alternate.
    private mutating func string() throws(SyntaxError) -> String {
        let start = index
        index += 1
        var utf8: [UInt8] = []
        var runStart = index
        while true {
            guard let byte = peek else {
                index = start
                throw error("a string that never ends")
            }
            switch byte {
            case UInt8(ascii: "\""):
                utf8 += bytes[runStart..<index]
                index += 1
                guard let text = String(validating: utf8, as: UTF8.self) else {
                    index = start
                    throw error("a string that is not valid UTF-8")
                }
                return text
            case UInt8(ascii: "\\"):
                utf8 += bytes[runStart..<index]
                index += 1
                utf8 += String(try escape()).utf8
                runStart = index
            case 0..<0x20:
                throw error("a control character (\\u\(hex4(UInt32(byte)))) inside a string; write it escaped")
            default:
                index += 1
            }
        }
    }

    /// After the backslash.
    private mutating func escape() throws(SyntaxError) -> Unicode.Scalar {
        guard let byte = peek else { throw error("a string that never ends") }
        index += 1
        switch byte {
        case UInt8(ascii: "\""): return "\""
        case UInt8(ascii: "\\"): return "\\"
        case UInt8(ascii: "/"): return "/"
        case UInt8(ascii: "b"): return "\u{8}"
        case UInt8(ascii: "f"): return "\u{C}"
        case UInt8(ascii: "n"): return "\n"
        case UInt8(ascii: "r"): return "\r"
        case UInt8(ascii: "t"): return "\t"
        case UInt8(ascii: "u"):
            let unit = try hexUnit()
            if (0xD800..<0xDC00).contains(unit) {
                guard bytes[index...].starts(with: [UInt8(ascii: "\\"), UInt8(ascii: "u")]) else { throw error("a lone surrogate \\u\(hex4(unit))") }
                index += 2
                let low = try hexUnit()
                guard (0xDC00..<0xE000).contains(low) else { throw error("a lone surrogate \\u\(hex4(unit))") }
                return Unicode.Scalar(0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00))!
            }
            guard let scalar = Unicode.Scalar(unit) else { throw error("a lone surrogate \\u\(hex4(unit))") }
            return scalar
        default:
            index -= 1
            throw error("an unknown escape: a backslash before \(Self.describe(byte, quoting: false))")
        }
    }

    private mutating func hexUnit() throws(SyntaxError) -> UInt32 {
        guard index + 4 <= bytes.count else { throw error("\\u needs four hex digits") }
        var unit: UInt32 = 0
        for byte in bytes[index..<index + 4] {
            guard let digit = Character(Unicode.Scalar(byte)).hexDigitValue else { throw error("\\u needs four hex digits") }
            unit = unit << 4 | UInt32(digit)
        }
        index += 4
        return unit
    }

    private mutating func number() throws(SyntaxError) -> JSONValue {
        let start = index
        if peek == UInt8(ascii: "-") { index += 1 }
        guard let first = peek, isDigit(first) else { throw error("a number needs digits") }
        index += 1
        if first == UInt8(ascii: "0"), let next = peek, isDigit(next) { throw error("a number may not start with 0") }
        skipDigits()
        if peek == UInt8(ascii: ".") {
            index += 1
            guard let next = peek, isDigit(next) else { throw error("a number needs digits after '.'") }
            skipDigits()
        }
        if peek == UInt8(ascii: "e") || peek == UInt8(ascii: "E") {
            index += 1
            if peek == UInt8(ascii: "+") || peek == UInt8(ascii: "-") { index += 1 }
            guard let next = peek, isDigit(next) else { throw error("a number needs digits in its exponent") }
            skipDigits()
        }
        let text = String(decoding: bytes[start..<index], as: UTF8.self)
        guard let number = Double(text), number.isFinite else {
            index = start
            throw error("the number \(Self.quoted(text)) is out of range")
        }
        return .number(number)
    }

    private mutating func literal(_ word: String, _ value: JSONValue) throws(SyntaxError) -> JSONValue {
        guard bytes[index...].starts(with: word.utf8) else { throw error("unexpected \(shown) where a value should be") }
        index += word.utf8.count
        return value
    }

    private var peek: UInt8? { index < bytes.count ? bytes[index] : nil }

    private func isDigit(_ byte: UInt8) -> Bool { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) }

    private mutating func skipDigits() {
        while let byte = peek, isDigit(byte) { index += 1 }
    }

    private mutating func skipWhitespace() {
        while let byte = peek, byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 { index += 1 }
    }

    /// What is at `index`, as a message quotes it.
    private var shown: String {
        peek.map { Self.describe($0, quoting: true) } ?? "the end"
    }

    /// A byte as a message shows it: a printable character as itself (in quotes if `quoting`),
    /// anything else by its value.
    private static func describe(_ byte: UInt8, quoting: Bool) -> String {
        guard (0x21..<0x7F).contains(byte) else { return "byte 0x\(String(byte, radix: 16))" }
        let character = String(Character(Unicode.Scalar(byte)))
        return quoting ? "'\(character)'" : character
    }

    /// Text from the document as a message quotes it: at most 64 characters, control characters
    /// escaped (a message may reach a log or a 400's body).
    static func quoted(_ text: String) -> String {
        let escaped = text.prefix(64).unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7F ? "\\u{\(String($0.value, radix: 16))}" : String($0) }.joined()
        return text.count > 64 ? escaped + "…" : escaped
    }

    private func hex4(_ value: UInt32) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }

    private func error(_ problem: String) -> SyntaxError {
        SyntaxError(problem: problem, at: index, in: bytes)
    }
}

extension JSONParser.SyntaxError {
    init(problem: String, at offset: Int, in bytes: [UInt8]) {
        let before = bytes[..<min(offset, bytes.count)]
        let line = before.reduce(1) { $1 == 0x0A ? $0 + 1 : $0 }
        let lineStart = before.lastIndex(of: 0x0A).map { $0 + 1 } ?? 0
        self.init(problem: problem, line: line, column: offset - lineStart + 1)
    }
}
