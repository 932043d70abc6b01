import CorralPlatform
import CorralStore
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Containment by pid namespace, for hosts where corral cannot make cgroups but can make pid
/// namespaces (an unprivileged container: `/sys/fs/cgroup` read-only, no CAP_SYS_ADMIN, user
/// namespaces allowed). Each session gets a pid namespace of its own, inside a user namespace
/// where corral needs one (`PidNamespaceSupport`), whose PID 1 is an init of corral's
/// (namespace_init.c): it starts the agent, reaps what is re-parented to it, and passes the
/// signals corral sends it on to every process of the namespace. When the init exits, the kernel
/// kills everything else in the namespace: no `setsid()`, double fork or cleared environment gets
/// out. The session's recorded pid is the init's; it leads a session and process group of its
/// own, and the agent, its child, leads another inside. Limits are watched, not enforced.
public struct PidNamespaceContainment: Containment {
    public var kind: ContainmentKind { .pidNamespace }
    public let support: PidNamespaceSupport
    /// What the init gives the rest of the namespace once the agent has exited by itself
    /// (`grace_seconds`, as corral gives a session it ends).
    let grace: Duration

    public init(support: PidNamespaceSupport, grace: Duration) {
        self.support = support
        self.grace = grace
    }

    public func launch(
        _ launch: AgentLaunch,
        monitor: ProcessMonitor,
        register: (any ContainedTree) throws(CorralError) -> Void
    ) throws(CorralError) -> any ContainedTree {
        if let user = launch.user, let problem = support.problem(running: user) {
            throw CorralError(.spawnFailed, "cannot start the agent as uid \(user.uid) in its pid namespace: \(problem)")
        }
        let setup = PidNamespaceSetup(userNamespace: support.userNamespace, initEnvironment: Self.initEnvironment(launch.environment), grace: grace)
        return try monitor.withSpawnGate { () throws(CorralError) -> any ContainedTree in
            let spawned: SpawnedProcess
            do throws(AgentSpawner.Failure) {
                spawned = try AgentSpawner.spawnInPidNamespace(SpawnRequest(launch, cgroupFD: nil), setup: setup)
            } catch {
                throw error.asCorralError(launch)
            }
            let tree = PidNamespaceTree(leader: spawned.pidFD, leaderStartTime: spawned.startTime, monitor: monitor)
            return try tree.registered(with: register)
        }
    }

    /// A session an earlier corral started otherwise (the configuration changed) is held as it
    /// was started: by its process group.
    public func adopt(_ record: SessionRecord, leader: PidFD, limits: ResourceLimits, monitor: ProcessMonitor) -> any ContainedTree {
        guard record.containment == .pidNamespace else { return ProcessGroupContainment().adopt(record, leader: leader, limits: limits, monitor: monitor) }
        return PidNamespaceTree(leader: leader, leaderStartTime: record.leaderStartTime, monitor: monitor, adopted: true)
    }

    /// The init is gone, and the namespace with it; what carries the session's tags elsewhere
    /// (nothing corral started) is killed all the same.
    public func cleanUpRemains(of record: SessionRecord, instanceID: String) {
        ProcessGroupContainment().cleanUpRemains(of: record, instanceID: instanceID)
    }

    /// The init's environment: corral's tags (`CORRAL_SESSION_ID`, `CORRAL_INSTANCE_ID`, ...), by
    /// which it is known as the session's after a restart, and nothing else of the agent's.
    static func initEnvironment(_ environment: [String]) -> [String] {
        environment.filter { $0.hasPrefix("CORRAL_") && !$0.hasPrefix("CORRAL_METADATA=") && !$0.hasPrefix("CORRAL_ASSIGN_FD=") }
    }
}

/// One session held by its pid namespace, through the namespace's init (the leader).
final class PidNamespaceTree: AbandonableTree {
    let leader: PidFD
    let leaderStartTime: UInt64?
    var kind: ContainmentKind { .pidNamespace }
    var pgid: Int32 { leader.pid }
    var cgroupPath: String? { nil }
    var enforcedLimits: Set<LimitViolation> { [] }
    var needsProcessTable: Bool { false }

    /// Taken over from an earlier corral: the init is not this corral's child.
    private let adopted: Bool
    private let leaderWatch: LeaderWatch

    init(leader: PidFD, leaderStartTime: UInt64?, monitor: ProcessMonitor, adopted: Bool = false) {
        self.leader = leader
        self.leaderStartTime = leaderStartTime
        self.adopted = adopted
        self.leaderWatch = LeaderWatch(monitor: monitor)
    }

    func watchLeaderExit(_ handler: @escaping ProcessMonitor.ExitHandler) throws(SystemError) {
        try leaderWatch.start(leader, onExit: handler)
    }

    /// The init passes the signal on to every other process of the namespace (`kill(-1)` from
    /// inside, which reaches nothing outside it); SIGKILL ends the init, and with it the
    /// namespace.
    func signalAll(_ signal: Int32) {
        _ = try? leader.signal(signal)
    }

    func killAll() { signalAll(SIGKILL) }

    /// The init has exited: the kernel reports its exit only once every other process of the
    /// namespace is gone. For a session corral started, the init has been reaped too, so that its
    /// process group is gone when the end is answered.
    var isEmpty: Bool {
        guard leader.hasExited else { return false }
        return adopted || (!Syscall.processGroupExists(pgid) && !leaderWatch.awaitingExit)
    }

    var leaderExit: ExitStatus? { leaderWatch.exitStatus }

    var isKnownNonEmpty: Bool { !leader.hasExited }

    func members() -> ProcessListing {
        SessionProcessScanner.listing(of: memberPIDs())
    }

    /// The agent's processes (the init is corral's).
    func memberGroups() -> [(pid: Int32, pgid: Int32)] {
        memberPIDs().dropFirst().compactMap { pid in ProcFS.stat(pid).map { (pid, $0.pgid) } }
    }

    /// The agent leads its group: the init's child whose pid in the namespace the init was given
    /// (`corral-session-init AGENT GRACE`); the init's own while the agent cannot be found.
    var agentGroup: Int32 {
        let inside = ProcFS.commandLine(leader.pid).flatMap { $0.count == 3 ? Int32($0[1]) : nil } ?? 2
        return ProcFS.children(of: leader.pid).first { ProcFS.namespacePIDs($0)?.last == inside } ?? leader.pid
    }

    func limitViolation() -> LimitViolation? { nil }

    /// The agent's processes: the init (corral's code, a megabyte or so) counts toward no limit.
    func usage(in table: ProcessTable?) -> ResourceUsage {
        let pids = memberPIDs().filter { $0 != leader.pid }
        return ResourceUsage(memoryBytes: SessionProcessScanner.residentBytes(of: pids), processes: pids.count)
    }

    func track(_ table: ProcessTable) {}

    func release() { detach() }

    func detach() {
        leaderWatch.stop()
        leader.close()
    }

    func abandon() {
        leader.killAndReap()
    }

    /// The init and every process below it, the init first, then breadth-first: every process of
    /// the namespace descends from its init (orphans are re-parented to it).
    private func memberPIDs() -> [Int32] {
        guard !leader.hasExited else { return [] }
        guard ProcFS.listsChildren else { return ProcessTable.read().withDescendants(of: [leader.pid]) }
        var found = [leader.pid]
        var seen: Set = [leader.pid]
        var index = 0
        while index < found.count {
            let parent = found[index]
            index += 1
            for child in ProcFS.children(of: parent).sorted() {
                // The list may be stale by now: a pid reused since is no longer this parent's.
                guard ProcFS.stat(child)?.ppid == parent, seen.insert(child).inserted else { continue }
                found.append(child)
            }
        }
        return found
    }
}
