import Foundation

/// Writes JSON straight into bytes, for the responses that grow with the number of sessions.
/// Foundation's `JSONEncoder` goes through an intermediate tree and boxes every value: it was
/// 71% of a `GET /api/sessions` at 1,000 sessions (perf), about 25 µs per session.
///
/// The caller writes keys in sorted order, so the output matches the `.sortedKeys` encoder used
/// for every other response.
struct JSONWriter {
    private(set) var bytes: [UInt8] = []
    /// Per open object or array, one bit: whether a member was written, so the next needs a
    /// comma. The innermost is the lowest bit. A bit set rather than an array: this is checked
    /// for every value, and JSON here nests a few levels, not 64.
    private var hasMember: UInt64 = 0
    private var depth = 0

    init(capacity: Int = 256) {
        bytes.reserveCapacity(capacity)
    }

    mutating func beginObject() { open(UInt8(ascii: "{")) }
    mutating func endObject() { close(UInt8(ascii: "}")) }
    mutating func beginArray() { open(UInt8(ascii: "[")) }
    mutating func endArray() { close(UInt8(ascii: "]")) }

    private mutating func open(_ bracket: UInt8) {
        separate()
        bytes.append(bracket)
        precondition(depth < 64, "JSON nested deeper than 64 levels")
        hasMember <<= 1
        depth += 1
    }

    private mutating func close(_ bracket: UInt8) {
        hasMember >>= 1
        depth -= 1
        bytes.append(bracket)
    }

    /// A key in the object being written; its value comes next. A literal: nothing to escape.
    mutating func key(_ name: StaticString) {
        separate()
        bytes.append(UInt8(ascii: "\""))
        name.withUTF8Buffer { bytes.append(contentsOf: $0) }
        bytes.append(UInt8(ascii: "\""))
        bytes.append(UInt8(ascii: ":"))
        valueFollows()
    }

    private mutating func key(_ name: String) {
        separate()
        appendString(name)
        bytes.append(UInt8(ascii: ":"))
        valueFollows()
    }

    /// The value after a key needs no comma of its own.
    private mutating func valueFollows() {
        hasMember &= ~1
    }

    mutating func string(_ value: String) {
        separate()
        appendString(value)
    }

    mutating func integer(_ value: some BinaryInteger) {
        separate()
        bytes.append(contentsOf: String(value).utf8)
    }

    /// A finite number, rounded to three decimals (loads, ratios); not finite is written null.
    mutating func number(_ value: Double) {
        separate()
        guard value.isFinite else { return bytes.append(contentsOf: "null".utf8) }
        let rounded = (value * 1000).rounded() / 1000
        bytes.append(contentsOf: (rounded == rounded.rounded() ? String(Int64(rounded)) : String(rounded)).utf8)
    }

    mutating func bool(_ value: Bool) {
        separate()
        bytes.append(contentsOf: (value ? "true" : "false").utf8)
    }

    mutating func null() {
        separate()
        bytes.append(contentsOf: "null".utf8)
    }

    /// An object of strings, keys sorted.
    mutating func object(_ members: [String: String]) {
        beginObject()
        for (name, value) in members.sorted(by: { $0.key < $1.key }) {
            key(name)
            string(value)
        }
        endObject()
    }

    private mutating func separate() {
        guard depth > 0 else { return }
        if hasMember & 1 != 0 { bytes.append(UInt8(ascii: ",")) }
        hasMember |= 1
    }

    private static let hex = Array("0123456789abcdef".utf8)

    private mutating func appendString(_ value: String) {
        bytes.append(UInt8(ascii: "\""))
        var value = value
        value.withUTF8 { utf8 in
            // Runs that need no escaping (nearly everything) are copied whole.
            var runStart = 0
            for index in utf8.indices where utf8[index] < 0x20 || utf8[index] == UInt8(ascii: "\"") || utf8[index] == UInt8(ascii: "\\") {
                bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart..<index]))
                appendEscaped(utf8[index])
                runStart = index + 1
            }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart...]))
        }
        bytes.append(UInt8(ascii: "\""))
    }

    private mutating func appendEscaped(_ byte: UInt8) {
        switch byte {
        case UInt8(ascii: "\""): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
        case UInt8(ascii: "\\"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
        case UInt8(ascii: "\n"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
        case UInt8(ascii: "\r"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
        case UInt8(ascii: "\t"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
        case 0x08: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "b")])
        case 0x0C: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "f")])
        default:
            bytes.append(contentsOf: Array("\\u00".utf8))
            bytes.append(Self.hex[Int(byte >> 4)])
            bytes.append(Self.hex[Int(byte & 0xF)])
        }
    }
}
