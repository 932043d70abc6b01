import CorralPlatform
import CorralStore
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
    public var limits: ResourceLimits
    /// The user to run as, if not corral's.
    public var user: AgentUser?
    /// A prewarmed agent's end of its assignment channel (or a template's end of its control
    /// channel), passed as `AgentLaunch.assignTargetFD`.
    public var assignFD: Int32?
    /// A memory cgroup of its own even without a memory limit, where v1 counts memory: a
    /// template's, so that what its forks share is shown and charged as its own.
    public var ownMemory = false

    /// The descriptor number a prewarmed agent finds its assignment channel at (`CORRAL_ASSIGN_FD`).
    public static let assignTargetFD: Int32 = 3
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

    /// Takes back a session that an earlier corral started, given a pidfd for its leader whose
    /// identity has been checked. Its cgroup gets `limits` again: they are gone when the corral
    /// before handed its controllers back to let a new corral start (`CgroupDelegation`).
    func adopt(_ record: SessionRecord, leader: PidFD, limits: ResourceLimits, monitor: ProcessMonitor) -> any ContainedTree

    /// Kills whatever is left of a session whose leader is gone (or is no longer the session's
    /// process), without trusting its pid: its cgroup, or the processes carrying its id.
    func cleanUpRemains(of record: SessionRecord, instanceID: String)

    /// Kills and removes the session groups this containment made (cgroups below corral's root)
    /// that belong to no session in `keep`; returns what it removed.
    func removeOrphanedGroups(keeping keep: Set<String>) -> [String]

    /// corral is stopping: what the containment set up for all sessions goes if it is unused.
    func stopped()

    /// Whether `cgroupPath` (read from the store) names a session cgroup this containment could
    /// have made: below corral's cgroup root.
    func accepts(cgroupPath: String) -> Bool
}

extension Containment {
    /// Process groups leave nothing behind of their own.
    public func removeOrphanedGroups(keeping keep: Set<String>) -> [String] { [] }

    /// Process groups make no cgroups.
    public func accepts(cgroupPath: String) -> Bool { false }

    public func stopped() {}
}

/// One session's processes.
public protocol ContainedTree: Sendable {
    var kind: ContainmentKind { get }
    var leader: PidFD { get }
    var pgid: Int32 { get }
    /// The leader's start time (`/proc/PID/stat` field 22), read right after the spawn.
    var leaderStartTime: UInt64? { get }
    /// The session's cgroup directory, with cgroup containment.
    var cgroupPath: String? { get }

    /// Calls `handler` on the monitor's thread once the leader has exited and been reaped; the
    /// watch ends with `release` or `detach`.
    func watchLeaderExit(_ handler: @escaping ProcessMonitor.ExitHandler) throws(SystemError)
    /// Sends `signal` to every process of the session, each through a pidfd opened after
    /// checking that the process still belongs to the session.
    func signalAll(_ signal: Int32)
    /// SIGKILL to every process of the session (atomically where the kernel can).
    func killAll()
    /// True once no process of the session is left, and the exit of a leader corral reaps has
    /// been told (`leaderExit`).
    var isEmpty: Bool { get }
    /// How the leader exited, once its watch has told it; nil before, or if not watched.
    var leaderExit: ExitStatus? { get }
    /// Every process of the session, the leader first.
    func members() -> ProcessListing
    /// Every process of the session with its process group, without reading command lines.
    func memberGroups() -> [(pid: Int32, pgid: Int32)]
    /// The first step of an end: `memberGroups`, then each of `signals` sent to all of them as
    /// `signalAll` would. Trees that find their processes at a cost find them once for both.
    func listAndSignal(_ signals: [Int32]) -> [(pid: Int32, pgid: Int32)]
    /// The agent's own process group: processes of `memberGroups` outside it left it.
    var agentGroup: Int32 { get }
    /// Limits the kernel enforces for this tree (the rest are watched by the supervisor).
    var enforcedLimits: Set<LimitViolation> { get }
    /// A limit the kernel enforced (an OOM kill, a refused fork), if any.
    func limitViolation() -> LimitViolation?
    /// Memory and process count of the whole session. `table` is a /proc snapshot shared by
    /// every session checked in one pass, for trees that have to scan /proc.
    func usage(in table: ProcessTable?) -> ResourceUsage
    /// The sum of its processes' PSS (`ProcFS.proportionalBytes`): what the session really
    /// costs where it shares pages (with a template it was forked from). Reads every process's
    /// page tables: asked for where it is shown, not by the limit watch.
    func proportionalMemory(in table: ProcessTable?) -> UInt64
    /// Records what only a /proc snapshot can tell (process-group trees: their escapees).
    func track(_ table: ProcessTable)
    /// The processes `track` saw outside the group and still alive then, for the record (at
    /// most `ProcessSighting.recordedLimit`, in pid order).
    var sightings: [ProcessSighting] { get }
    /// Whether `usage` and `track` need a /proc snapshot.
    var needsProcessTable: Bool { get }
    /// Releases what the tree holds (pidfd, cgroup); call once it is empty.
    func release()
    /// Lets go of the tree without ending it (corral exits, the next one adopts it): descriptors
    /// are closed, the cgroup stays.
    func detach()
    /// Processes carrying `id` in `CORRAL_SESSION_ID` are the session's too (a prewarmed agent
    /// passes the session's id on to the processes it starts after taking it).
    func recognise(_ id: SessionID)
    /// True when a check that reads no /proc already shows a live member; false means "ask
    /// `isEmpty`".
    var isKnownNonEmpty: Bool { get }
}

extension ContainedTree {
    /// A cgroup holds every process of the session whatever it carries.
    public func recognise(_ id: SessionID) {}

    public func proportionalMemory(in table: ProcessTable?) -> UInt64 {
        SessionProcessScanner.proportionalBytes(of: members().entries.map(\.pid))
    }

    public func listAndSignal(_ signals: [Int32]) -> [(pid: Int32, pgid: Int32)] {
        let members = memberGroups()
        for signal in signals { signalAll(signal) }
        return members
    }

    /// The leader is the agent.
    public var agentGroup: Int32 { pgid }

    public var isKnownNonEmpty: Bool { false }

    /// A cgroup or a pid namespace holds every process: nothing is seen leaving.
    public var sightings: [ProcessSighting] { [] }
}

/// What a session uses, across all of its processes.
public struct ResourceUsage: Sendable, Equatable {
    /// What the session's cgroup is charged (what its processes added: pages they share with a
    /// template stay the template's), else the sum of their RSS.
    public var memoryBytes: UInt64
    public var processes: Int
    /// The sum of its processes' PSS, where it was asked for.
    public var pssBytes: UInt64?

    public init(memoryBytes: UInt64, processes: Int, pssBytes: UInt64? = nil) {
        self.memoryBytes = memoryBytes
        self.processes = processes
        self.pssBytes = pssBytes
    }
}

/// The processes of a session as read from /proc.
public struct ProcessListing: Sendable {
    public struct Entry: Sendable, Equatable {
        public let pid: Int32
        public let ppid: Int32
        public let pgid: Int32
        public let sid: Int32
        /// The argument vector; empty for zombies and kernel threads.
        public let arguments: [String]
        /// The command name from /proc/PID/stat, for processes without arguments.
        public let name: String
        /// Exited, not yet reaped by its parent: it runs nothing.
        public var isZombie = false
        /// Filled in only when asked for (admins): the initial environment.
        public var environment: [String: String]?

        /// The command line as `ps` would show it.
        public var command: String {
            guard !isZombie else { return "[\(name)] <defunct>" }
            return arguments.isEmpty ? "[\(name)]" : arguments.joined(separator: " ")
        }
    }

    public var entries: [Entry] = []
    /// What could not be read (a process that vanished mid-read).
    public var errors: [String] = []

    public init() {}
}

/// A tree that can be given up before it is a session's: what was spawned is killed.
protocol AbandonableTree: ContainedTree {
    /// Kills what was spawned when the session could not be registered.
    func abandon()
}

extension AbandonableTree {
    /// The tree just spawned becomes the session's: its leader must lead its own process group
    /// (the spawn made it a session leader), and `register`, the caller's watch of its exit,
    /// must take it. Otherwise everything spawned is killed and the error thrown.
    func registered(with register: (any ContainedTree) throws(CorralError) -> Void) throws(CorralError) -> Self {
        do throws(CorralError) {
            let pid = leader.pid
            let pgid = Syscall.processGroup(of: pid)
            guard pgid == pid else {
                throw CorralError(
                    .spawnFailed,
                    "agent pid \(pid) is not the leader of its process group (pgid \(pgid.map(String.init) ?? "unknown")); refused and killed"
                )
            }
            try register(self)
        } catch {
            abandon()
            throw error
        }
        return self
    }
}
