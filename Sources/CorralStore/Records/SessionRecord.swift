import CorralPlatform
import Foundation

/// Where a session is in its life, as the API shows it.
public enum SessionStatus: String, Sendable, Codable, Equatable {
    /// Spawned, waiting for `READY=1` (profiles with `ready: notify`), or not yet spawned.
    case starting
    case running
    /// Being ended: signals sent, waiting for the tree to be empty.
    case stopping
}

/// How a session's agent came to serve it.
public enum StartPath: String, Sendable, Codable, Equatable {
    /// Spawned for the session.
    case cold
    /// A prewarmed agent that was idle and was handed the session.
    case warm
    /// A prewarmed agent waiting for a session: not a session yet, never shown as one.
    case idle
    /// Forked from the profile's warm template.
    case fork
    /// A profile's warm template, which sessions are forked from: never a session.
    case template
}

/// What the store keeps about a session: enough to find, verify and end its processes after a
/// restart of corral.
public struct SessionRecord: Sendable, Equatable, Codable {
    public var id: SessionID
    public var agent: String
    public var status: SessionStatus
    /// The leader's pid; nil until it has been spawned.
    public var pid: Int32?
    public var pgid: Int32?
    public var isGroupLeader: Bool
    /// Field 22 of the leader's `/proc/PID/stat`: with the pid, the leader's identity.
    public var leaderStartTime: UInt64?
    public var containment: ContainmentKind
    /// The session's cgroup directory, with cgroup containment.
    public var cgroupPath: String?
    public var createdAt: Date
    public var expiresAt: Date
    public var readyAt: Date?
    public var metadata: [String: String]
    public var logPath: String
    /// The corral node running the session (`node_id`); nil in records written before nodes.
    public var node: String?
    /// The LiveKit room the session serves, and the agent's identity in it.
    public var livekitRoom: String?
    public var livekitIdentity: String?
    public var start: StartPath
    /// The id the agent's processes carry in `CORRAL_SESSION_ID` when it is not `id`: a warm
    /// session's agent was started under its idle id.
    public var processTag: SessionID?
    /// A LiveKit job this session runs (corral as a LiveKit worker): the job, its dispatch and
    /// the agent name it was dispatched to.
    public var livekitJobID: String?
    public var livekitDispatchID: String?
    public var livekitAgentName: String?
    /// Its processes seen outside its process group (process-group containment), at most
    /// `ProcessSighting.recordedLimit`, in pid order.
    public var sightings: [ProcessSighting] = []

    /// The LiveKit job, from its three fields.
    public var livekitJob: LiveKitJob? {
        get {
            guard let livekitJobID, let livekitAgentName else { return nil }
            return LiveKitJob(jobID: livekitJobID, dispatchID: livekitDispatchID, agentName: livekitAgentName)
        }
        set {
            livekitJobID = newValue?.jobID
            livekitDispatchID = newValue?.dispatchID
            livekitAgentName = newValue?.agentName
        }
    }

    /// The id in the environment of the session's processes, by which they are recognised.
    public var tag: SessionID { processTag ?? id }
    public var isIdle: Bool { start == .idle }
    public var isTemplate: Bool { start == .template }
    /// A session (cold, warm or forked), not an idle agent or a template waiting for one.
    public var isSession: Bool { start != .idle && start != .template }

    public init(
        id: SessionID,
        agent: String,
        status: SessionStatus = .starting,
        pid: Int32? = nil,
        pgid: Int32? = nil,
        isGroupLeader: Bool = false,
        leaderStartTime: UInt64? = nil,
        containment: ContainmentKind = .processGroup,
        cgroupPath: String? = nil,
        createdAt: Date,
        expiresAt: Date,
        readyAt: Date? = nil,
        metadata: [String: String] = [:],
        logPath: String,
        node: String? = nil,
        livekitRoom: String? = nil,
        livekitIdentity: String? = nil,
        start: StartPath = .cold,
        processTag: SessionID? = nil
    ) {
        self.id = id
        self.agent = agent
        self.status = status
        self.pid = pid
        self.pgid = pgid
        self.isGroupLeader = isGroupLeader
        self.leaderStartTime = leaderStartTime
        self.containment = containment
        self.cgroupPath = cgroupPath
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.readyAt = readyAt
        self.metadata = metadata
        self.logPath = logPath
        self.node = node
        self.livekitRoom = livekitRoom
        self.livekitIdentity = livekitIdentity
        self.start = start
        self.processTag = processTag
    }
}
