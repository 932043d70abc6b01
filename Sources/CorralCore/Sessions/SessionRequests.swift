import Foundation

/// A request to start a session, validated by the caller's layer for shape and by the
/// supervisor for meaning (known agent, timeout in range, id free, capacity).
public struct StartRequest: Sendable {
    public var agent: String?
    public var sessionID: SessionID?
    public var metadata: [String: String]
    public var timeoutSeconds: Double?
    /// The LiveKit room the session serves (and the agent's identity there, else derived).
    public var livekitRoom: String?
    public var livekitIdentity: String?

    public init(
        agent: String? = nil,
        sessionID: SessionID? = nil,
        metadata: [String: String] = [:],
        timeoutSeconds: Double? = nil,
        livekitRoom: String? = nil,
        livekitIdentity: String? = nil
    ) {
        self.agent = agent
        self.sessionID = sessionID
        self.metadata = metadata
        self.timeoutSeconds = timeoutSeconds
        self.livekitRoom = livekitRoom
        self.livekitIdentity = livekitIdentity
    }
}

/// How a session ended: what it took and why.
public struct EndResult: Sendable {
    public let sessionID: SessionID
    public let agent: String
    public let reason: EndReason
    public let outcome: TerminationOutcome
    /// From the moment the end began to the moment nothing of the session was left.
    public let duration: Duration
    /// How the leader exited, when corral saw it (it is corral's child).
    public let leaderExit: ExitStatus?
}

/// What `GET /api/debug/session/{id}/processes` shows.
public struct ProcessReport: Sendable {
    public let record: SessionRecord
    public let isProcessAlive: Bool
    public let isGroupAlive: Bool
    public let listing: ProcessListing
}

/// What a session (or an idle prewarmed agent) is started with, once its request has been
/// checked.
struct SessionSettings: Sendable {
    var id: SessionID
    var agent: String
    var profile: AgentProfile
    var timeout: Double
    var metadata: [String: String] = [:]
    var livekitRoom: String?
    var livekitIdentity: String?
}
