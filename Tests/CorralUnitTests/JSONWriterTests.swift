@testable import CorralPlatform
import Foundation
import Testing

@testable import CorralCore
@testable import CorralServer
@testable import CorralStore

/// Sessions are written by hand for speed; what is written must be byte for byte what the
/// sorted-keys `JSONEncoder` (every other response's) writes for the same JSON, and carry each
/// field of the record.
@Suite("Session JSON written by hand")
struct JSONWriterTests {
    private func encoded(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    private func record(_ id: String, metadata: [String: String] = [:], pid: Int32? = nil, room: String? = nil, node: String? = nil) -> SessionRecord {
        SessionRecord(
            id: SessionID(id)!, agent: "agent \"quoted\"", status: .running, pid: pid, pgid: pid, isGroupLeader: pid != nil,
            containment: .cgroup, createdAt: Date(timeIntervalSince1970: 1_795_953_924.0795),
            expiresAt: Date(timeIntervalSince1970: 1_795_968_324.9999), metadata: metadata, logPath: "/x/\(id).log", node: node,
            livekitRoom: room, livekitIdentity: room.map { _ in "agent-\(id)" }, start: .warm
        )
    }

    @Test func theListMatchesTheEncoder() throws {
        let awkward = [
            "quote": "say \"hi\"", "back\\slash": "C:\\path", "lines": "a\nb\r\nc\td", "controls": "\u{0}\u{1}\u{8}\u{c}\u{1f}\u{7f}",
            "unicode": "héllo ✓ 🦙", "slash": "a/b", "": "empty key",
        ]
        let sessions = [
            SessionJSON(record("plain")),
            SessionJSON(record("spawned", metadata: awkward, pid: 4242, node: "node-1")),
            SessionJSON(record("room", pid: 7, room: "room/1 \"x\""), usage: ResourceUsage(memoryBytes: 123_456_789, processes: 3)),
            SessionJSON(record("lost", pid: 9), status: "lost"),
        ]
        for count in [0, 1, sessions.count] {
            let written = SessionListJSON(sessions: Array(sessions.prefix(count))).json.bytes
            let parsed = try #require(JSONValue.parse(written), "not JSON: \(String(decoding: written, as: UTF8.self))")
            #expect(String(decoding: written, as: UTF8.self) == (try encoded(parsed)))
        }
        let one = try #require(JSONValue.parse(sessions[1].json.bytes))
        guard case .object(let fields) = one else { Issue.record("not an object"); return }
        #expect(fields["metadata"] == .object(awkward.mapValues(JSONValue.string)))
        #expect(fields["pid"] == .number(4242))
        #expect(fields["started_at"] == .string("2026-11-29T12:05:24.079Z"))
        #expect(fields["node"] == .string("node-1"))
        guard case .object(let plain)? = JSONValue.parse(sessions[0].json.bytes) else { Issue.record("not an object"); return }
        #expect(plain["pid"] == .null, "pid is null until spawned, never missing")
        #expect(Set(plain.keys) == ["agent", "containment", "expires_at", "is_group_leader", "metadata", "pgid", "pid", "session_id", "start", "started_at", "status"])
    }

    @Test func datesMatchFoundationsFormat() {
        var generator = SystemRandomNumberGenerator()
        let samples = [0, 1_795_953_924.0795, 1_795_953_924.9995, 951_782_400.5, 4_102_444_799.999]
            + (0..<2000).map { _ in Double.random(in: 0..<4_102_444_800, using: &generator) }
        for seconds in samples {
            let date = Date(timeIntervalSince1970: seconds)
            let expected = date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true, timeZone: .gmt))
            #expect(RFC3339.string(date) == expected, "\(seconds)")
        }
    }
}
