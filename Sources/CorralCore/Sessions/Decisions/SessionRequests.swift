import CorralPlatform
import Foundation
import CorralStore
import CorralConfiguration

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
    /// The LiveKit job the session runs (corral as a LiveKit worker). Its room may hold other
    /// jobs' sessions: `sessions_per_room` does not apply.
    public var livekitJob: LiveKitJob?
    /// Variables the agent gets on top of its profile's (a job's room token): never logged,
    /// stored or shown.
    public var environment: [String: String] = [:]
    /// The id was reserved beforehand (`Supervisor.reserve`), with its place.
    public var reserved = false

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
    /// What the session uses: its own memory (`memoryBytes`) and its PSS.
    public let usage: ResourceUsage?
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
    var livekitJob: LiveKitJob?
    /// On top of the profile's and the credentials': the request's own (a job's room token).
    var environment: [String: String] = [:]
}
