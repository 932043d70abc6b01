/// Everything needed to start one session's agent.
public struct AgentLaunch: Sendable {
    public var sessionID: SessionID
    /// Absolute path of the program (already resolved).
    public var executable: String
    public var arguments: [String]
    /// The complete environment, as `NAME=value`.
    public var environment: [String]
    public var workingDirectory: String?
    /// The session log, opened by the caller; it becomes the agent's stdout and stderr.
    public var outputFD: Int32
}

/// Starts agents so that their whole process tree can later be signalled, inspected and found
/// empty. The rest of corral never signals processes itself: it goes through this seam.
public protocol Containment: Sendable {
    var kind: ContainmentKind { get }

    /// Spawns the agent as the leader of a new session and process group. `register` runs
    /// inside the monitor's spawn gate, before the reaper can see the new child.
    func launch(
        _ launch: AgentLaunch,
        monitor: ProcessMonitor,
        register: (any ContainedTree) throws(CorralError) -> Void
    ) throws(CorralError) -> any ContainedTree
}

/// One session's processes.
public protocol ContainedTree: Sendable {
    var kind: ContainmentKind { get }
    var leader: PidFD { get }
    var pgid: Int32 { get }
    /// The leader's start time (`/proc/PID/stat` field 22), read right after the spawn.
    var leaderStartTime: UInt64? { get }

    /// Sends `signal` to every process of the session.
    func signalAll(_ signal: Int32)
    /// True once no process of the session is left (zombies count until reaped).
    var isEmpty: Bool { get }
    /// Every process of the session, the leader first.
    func members(sessionID: SessionID) -> ProcessListing
    /// Releases what the tree holds (the pidfd); call once it is empty.
    func release()
}

/// The processes of a session as read from /proc.
public struct ProcessListing: Sendable {
    public struct Entry: Sendable, Equatable {
        public let pid: Int32
        public let ppid: Int32
        public let pgid: Int32
        public let sid: Int32
        public let command: String
    }

    public var entries: [Entry] = []
    /// What could not be read (a process that vanished mid-read).
    public var errors: [String] = []
}
