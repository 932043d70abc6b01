@testable import CorralCore
@testable import CorralPlatform
import Foundation
import Testing

/// Each event kind's JSON, as `/api/events` and the webhook deliver it.
@Suite("Event payloads")
struct CorralEventTests {
    static func json(_ payload: CorralEvent.Payload) throws -> String {
        let event = CorralEvent(sequence: 7, time: Date(timeIntervalSince1970: 0), sessionID: SessionID("call-1")!, agent: "demo", payload: payload)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(event), as: UTF8.self)
    }

    static let common = #""agent":"demo","sequence":7,"session_id":"call-1","time":"1970-01-01T00:00:00.000Z""#

    @Test(arguments: [
        (
            CorralEvent.Payload.started(.init(pid: 10, pgid: 10, containment: .cgroup, status: .running, start: .warm)),
            #"{"agent":"demo","containment":"cgroup","pgid":10,"pid":10,"sequence":7,"session_id":"call-1","start":"warm","status":"running","time":"1970-01-01T00:00:00.000Z","type":"session.started"}"#
        ),
        (.ready, "{\(common),\"type\":\"session.ready\"}"),
        (.status(.stopping), #"{"agent":"demo","sequence":7,"session_id":"call-1","status":"stopping","time":"1970-01-01T00:00:00.000Z","type":"session.status"}"#),
        (
            .ended(.init(reason: .exited(.exited(code: 3)), outcome: .terminated, duration: .milliseconds(12), sessionDuration: 1.2345, exit: .exited(code: 3))),
            #"{"agent":"demo","duration_ms":12,"exit":"exit code 3","outcome":"terminated","reason":"exited","sequence":7,"session_duration_ms":1235,"session_id":"call-1","time":"1970-01-01T00:00:00.000Z","type":"session.ended"}"#
        ),
        (.escape(pids: [11, 12]), #"{"agent":"demo","pids":[11,12],"sequence":7,"session_id":"call-1","time":"1970-01-01T00:00:00.000Z","type":"session.escape"}"#),
        (
            .limit(.init(violation: .memory, exceeded: false, memoryBytes: 800, processes: nil, limitBytes: 1000)),
            #"{"agent":"demo","exceeded":false,"limit":"memory_limit","limit_bytes":1000,"memory_bytes":800,"sequence":7,"session_id":"call-1","time":"1970-01-01T00:00:00.000Z","type":"session.limit"}"#
        ),
        (
            .prewarmFailed(.init(reason: "startup_timeout", failuresInARow: 2, retryIn: .seconds(2))),
            #"{"agent":"demo","failures_in_a_row":2,"reason":"startup_timeout","retry_in_ms":2000,"sequence":7,"session_id":"call-1","time":"1970-01-01T00:00:00.000Z","type":"prewarm.failed"}"#
        ),
    ])
    func eachKindHasItsFields(payload: CorralEvent.Payload, expected: String) throws {
        #expect(try Self.json(payload) == expected)
    }
}
