import Foundation

/// Something that happened to a session, as `/api/events` and the webhook deliver it.
public struct CorralEvent: Sendable, Encodable {
    public enum Kind: String, Sendable, Encodable {
        case started = "session.started"
        case ready = "session.ready"
        case status = "session.status"
        case ended = "session.ended"
        /// Processes of the session were found outside its process group (and ended with it).
        case escape = "session.escape"
        /// A session neared (80% of memory) or went over a limit.
        case limit = "session.limit"
        /// A prewarmed idle agent crashed, never got ready or did not take its session (the
        /// event's session id is the idle agent's).
        case prewarmFailed = "prewarm.failed"
    }

    /// Increases by one with every event of this corral process.
    public let sequence: UInt64
    public let kind: Kind
    public let time: Date
    public let sessionID: SessionID
    public let agent: String
    /// Details by kind (status, reason, outcome, duration_ms, pid, pgid, …). Never session
    /// metadata values.
    public let details: [String: JSONValue]

    private struct Key: CodingKey {
        let stringValue: String
        var intValue: Int? { nil }
        init(_ string: String) { stringValue = string }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Key.self)
        try container.encode(sequence, forKey: Key("sequence"))
        try container.encode(kind, forKey: Key("type"))
        try container.encode(time.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true, timeZone: .gmt)), forKey: Key("time"))
        try container.encode(sessionID.rawValue, forKey: Key("session_id"))
        try container.encode(agent, forKey: Key("agent"))
        for (key, value) in details.sorted(by: { $0.key < $1.key }) {
            try container.encode(value, forKey: Key(key))
        }
    }
}
