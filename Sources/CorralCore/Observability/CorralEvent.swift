import CorralPlatform
import Foundation
import CorralStore

/// Something that happened to a session, as `/api/events` and the webhook deliver it: a
/// sequence number, the time, the session and what happened (`payload`, one type per kind).
/// Events never carry session metadata values.
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
        /// A profile's template crashed, never got ready, answered garbage or stopped answering
        /// (the event's session id is the template's; it is replaced after `retry_in_ms`).
        case templateFailed = "template.failed"
    }

    public struct Started: Sendable, Equatable {
        public let pid: Int32
        public let pgid: Int32
        public let containment: ContainmentKind
        public let status: SessionStatus
        public let start: StartPath
    }

    public struct Ended: Sendable, Equatable {
        public let reason: EndReason
        public let outcome: TerminationOutcome
        /// How long the end took.
        public let duration: Duration
        /// How long the session lived.
        public let sessionDuration: TimeInterval
        /// How the leader exited, when corral saw it.
        public let exit: ExitStatus?
    }

    public struct Limit: Sendable, Equatable {
        public let violation: LimitViolation
        /// False for the warning at 80% of the memory limit.
        public let exceeded: Bool
        public let memoryBytes: UInt64
        /// Processes of the session (when the limit was exceeded).
        public let processes: Int?
        /// The memory limit (with the warning).
        public let limitBytes: UInt64?
    }

    public struct PrewarmFailure: Sendable, Equatable {
        public let reason: String
        public let failuresInARow: Int
        public let retryIn: Duration
    }

    public enum Payload: Sendable, Equatable {
        case started(Started)
        case ready
        case status(SessionStatus)
        case ended(Ended)
        case escape(pids: [Int32])
        case limit(Limit)
        case prewarmFailed(PrewarmFailure)
        case templateFailed(PrewarmFailure)
    }

    /// Increases by one with every event of this corral process.
    public let sequence: UInt64
    public let time: Date
    public let sessionID: SessionID
    public let agent: String
    public let payload: Payload

    public var kind: Kind {
        switch payload {
        case .started: .started
        case .ready: .ready
        case .status: .status
        case .ended: .ended
        case .escape: .escape
        case .limit: .limit
        case .prewarmFailed: .prewarmFailed
        case .templateFailed: .templateFailed
        }
    }

    private struct Key: CodingKey {
        let stringValue: String
        var intValue: Int? { nil }
        init(_ string: String) { stringValue = string }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    /// `{"sequence", "type", "time", "session_id", "agent", …}` and the payload's fields, in
    /// snake case.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Key.self)
        try container.encode(sequence, forKey: Key("sequence"))
        try container.encode(kind, forKey: Key("type"))
        try container.encode(RFC3339.string(time), forKey: Key("time"))
        try container.encode(sessionID.rawValue, forKey: Key("session_id"))
        try container.encode(agent, forKey: Key("agent"))
        switch payload {
        case .started(let started):
            try container.encode(started.pid, forKey: Key("pid"))
            try container.encode(started.pgid, forKey: Key("pgid"))
            try container.encode(started.containment.rawValue, forKey: Key("containment"))
            try container.encode(started.status.rawValue, forKey: Key("status"))
            try container.encode(started.start.rawValue, forKey: Key("start"))
        case .ready:
            break
        case .status(let status):
            try container.encode(status.rawValue, forKey: Key("status"))
        case .ended(let ended):
            try container.encode(ended.reason.name, forKey: Key("reason"))
            try container.encode(ended.outcome.rawValue, forKey: Key("outcome"))
            try container.encode(ended.duration.milliseconds, forKey: Key("duration_ms"))
            try container.encode((ended.sessionDuration * 1000).rounded(), forKey: Key("session_duration_ms"))
            try container.encodeIfPresent(ended.exit?.description, forKey: Key("exit"))
        case .escape(let pids):
            try container.encode(pids, forKey: Key("pids"))
        case .limit(let limit):
            try container.encode(EndReason(limit.violation).name, forKey: Key("limit"))
            try container.encode(limit.exceeded, forKey: Key("exceeded"))
            try container.encode(limit.memoryBytes, forKey: Key("memory_bytes"))
            try container.encodeIfPresent(limit.processes, forKey: Key("processes"))
            try container.encodeIfPresent(limit.limitBytes, forKey: Key("limit_bytes"))
        case .prewarmFailed(let failure), .templateFailed(let failure):
            try container.encode(failure.reason, forKey: Key("reason"))
            try container.encode(failure.failuresInARow, forKey: Key("failures_in_a_row"))
            try container.encode(failure.retryIn.milliseconds, forKey: Key("retry_in_ms"))
        }
    }
}
