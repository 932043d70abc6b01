import CorralCore
import Foundation
import Logging
import Synchronization
import Testing

/// What a stream log handler writes, kept.
private final class Written: TextOutputStream, Sendable {
    private let text = Mutex("")

    func write(_ string: String) { text.withLock { $0 += string } }

    var lines: [Substring] { text.withLock { $0 }.split(separator: "\n", omittingEmptySubsequences: false).dropLast() }
}

/// Issue 26: a LiveKit server's room name with a `\n` forged lines in corral's text log. Both
/// of `corral serve`'s handlers, as it makes them, get a value with every kind of control
/// character in a message, in the event's metadata, in the logger's own and in an error.
@Suite("Log escaping")
struct LogEscapingTests {
    /// A line break and a forged line, a carriage return, an escape sequence that clears a
    /// terminal, a bell, NUL, DEL, a C1 CSI, the line separator, a tab, and a backslash.
    static let hostile = "lobby\n1999-01-01T00:00:00+0000 critical corral: [CorralCore] forged\r\u{1B}[2J\u{07}\u{00}\u{7F}\u{9B}\u{2028}\tend\\n"
    static let escaped = #"lobby\n1999-01-01T00:00:00+0000 critical corral: [CorralCore] forged\r\u{1B}[2J\u{7}\u{0}\u{7F}\u{9B}\u{2028}\tend\\n"#

    struct Failure: Error, CustomStringConvertible {
        var description: String { "refused by \(LogEscapingTests.hostile)" }
    }

    static func log(to logger: Logger) {
        var logger = logger
        logger[metadataKey: "agent"] = "\(hostile)"
        logger.info("accepted a LiveKit job in \(hostile)", metadata: ["room": "\(hostile)", "nested": ["names": ["\(hostile)"]]])
        logger.warning("cannot reach the room", error: Failure())
    }

    @Test func aTextLineStaysOneLine() {
        let written = Written()
        Self.log(to: Logger(label: "corral") { label in EscapingLogHandler(StreamLogHandler(label: label, stream: written, metadataProvider: nil)) })
        let lines = written.lines
        #expect(lines.count == 2, "\(lines)")
        for line in lines {
            #expect(!line.unicodeScalars.contains { $0.properties.generalCategory == .control || $0 == "\u{2028}" }, "\(line.debugDescription)")
        }
        #expect(lines[0].contains("room=\(Self.escaped)"), "\(lines[0])")
        #expect(lines[0].contains("agent=\(Self.escaped)"), "\(lines[0])")
        #expect(lines[0].hasSuffix("accepted a LiveKit job in \(Self.escaped)"), "\(lines[0])")
        #expect(lines[1].contains("error.message=refused by \(Self.escaped)"), "\(lines[1])")
    }

    @Test func aJSONLineStaysJSONWithTheValueEscaped() throws {
        let written = Written()
        Self.log(to: Logger(label: "corral") { label in EscapingLogHandler(JSONLogHandler(label: label, level: .info) { written.write($0 + "\n") }) })
        let lines = written.lines
        #expect(lines.count == 2, "\(lines)")
        let objects = try lines.map { try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any], "\($0)") }
        #expect(objects[0]["room"] as? String == Self.escaped)
        #expect(objects[0]["agent"] as? String == Self.escaped)
        #expect(objects[0]["message"] as? String == "accepted a LiveKit job in \(Self.escaped)")
        #expect(objects[1]["error.message"] as? String == "refused by \(Self.escaped)")
        #expect(objects[1]["level"] as? String == "warning")
    }

    @Test func plainTextIsLeftAlone() {
        for text in ["session_1762023625352_rp6e1iorg", "Zoë's room: 東京 🎧", ""] {
            #expect(LogEscaping.escaped(text) == text)
        }
        #expect(LogEscaping.escaped("a\\b") == #"a\\b"#, "a backslash is escaped, so an escape always means one")
    }
}
