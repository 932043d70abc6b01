import CorralPlatform
import Logging
import Synchronization
import CorralStore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Containment by cgroup v2: each session gets its own cgroup below corral's root, and the agent
/// starts inside it with no moment in which it could fork outside (it is cloned into the cgroup,
/// or enters it as the first thing the new process does). Nothing the agent starts can leave:
/// `setsid()` children, double-forked daemons and fork bombs are all in `cgroup.procs`, and
/// `cgroup.kill` ends them at once.
public final class CgroupContainment: Containment {
    /// How the agent gets into its cgroup.
    public enum Placement: String, Sendable {
        /// Born inside: cloned into the cgroup (`clone3(CLONE_INTO_CGROUP)`), or, where the
        /// spawn cannot do that, entering it itself before anything else.
        case cloneIntoCgroup = "clone3"
        /// Spawned held before execve, moved into the cgroup, then released: it never runs its
        /// own code outside. The fallback where a new process cannot enter it itself.
        case attachBeforeExec = "attach"
    }

    public var kind: ContainmentKind { .cgroup }
    public let root: CgroupRoot
    private let placementState: Mutex<Placement>
    private let logger: Logger

    public var placement: Placement { placementState.withLock { $0 } }

    public init(root: CgroupRoot, placement: Placement = .cloneIntoCgroup, logger: Logger) {
        self.root = root
        self.placementState = Mutex(placement)
        self.logger = logger
    }

    public func launch(
        _ launch: AgentLaunch,
        monitor: ProcessMonitor,
        register: (any ContainedTree) throws(CorralError) -> Void
    ) throws(CorralError) -> any ContainedTree {
        let cgroup: SessionCgroup
        do {
            cgroup = try SessionCgroup(root: root, sessionID: launch.sessionID, limits: launch.limits, ownMemory: launch.ownMemory)
        } catch {
            logger.warning(
                "no cgroup for this session; it runs with process-group containment",
                metadata: ["session": "\(launch.sessionID)", "error": "\(error)"]
            )
            return try ProcessGroupContainment().launch(launch, monitor: monitor, register: register)
        }
        PhaseTrace.current?.mark("cgroup made")
        return try monitor.withSpawnGate { () throws(CorralError) -> any ContainedTree in
            PhaseTrace.current?.mark("gate passed")
            let spawned: SpawnedProcess
            do throws(CorralError) {
                spawned = try spawn(launch, into: cgroup)
            } catch {
                cgroup.remove()
                throw error
            }
            PhaseTrace.current?.mark("cloned")
            let tree = CgroupTree(
                sessionID: launch.sessionID,
                leader: spawned.pidFD,
                leaderStartTime: spawned.startTime,
                cgroup: cgroup,
                root: root,
                monitor: monitor
            )
            return try tree.registered(with: register)
        }
    }

    public func adopt(_ record: SessionRecord, leader: PidFD, limits: ResourceLimits, monitor: ProcessMonitor) -> any ContainedTree {
        guard let path = record.cgroupPath, let cgroup = SessionCgroup(adopting: path, root: root) else {
            return ProcessGroupContainment().adopt(record, leader: leader, limits: limits, monitor: monitor)
        }
        do {
            try cgroup.apply(limits, root: root)
        } catch {
            logger.warning(
                "cannot set an adopted session's limits again; they are watched, not enforced",
                metadata: [LogKey.session: "\(record.id)", LogKey.error: "\(error)"]
            )
        }
        return CgroupTree(
            sessionID: record.tag,
            leader: leader,
            leaderStartTime: record.leaderStartTime,
            cgroup: cgroup,
            root: root,
            monitor: monitor,
            adopted: true
        )
    }

    public func cleanUpRemains(of record: SessionRecord, instanceID: String) {
        if let path = record.cgroupPath, let cgroup = SessionCgroup(adopting: path, root: root) {
            cgroup.killAndRemove()
        }
        ProcessGroupContainment().cleanUpRemains(of: record, instanceID: instanceID)
    }

    public func stopped() {
        root.removeIfUnused()
    }

    public func accepts(cgroupPath: String) -> Bool {
        SessionCgroup.isSession(cgroupPath, below: root)
    }

    /// Kills and removes session cgroups below the root that belong to no session in `keep` and
    /// that this corral did not make (a start under way has none in its record yet).
    public func removeOrphanedGroups(keeping keep: Set<String>) -> [String] {
        var removed: [String] = []
        for name in root.sessionDirectories() {
            let path = root.path + "/" + name
            guard !keep.contains(path), !root.owns(name), let cgroup = SessionCgroup(adopting: path, root: root) else { continue }
            cgroup.killAndRemove()
            removed.append(path)
        }
        return removed
    }

    private func spawn(_ launch: AgentLaunch, into cgroup: SessionCgroup) throws(CorralError) -> SpawnedProcess {
        let placement = self.placement
        do throws(AgentSpawner.Failure) {
            switch placement {
            case .cloneIntoCgroup:
                // v1 limit cgroups are not entered by the spawn: the held child is moved there.
                let placeInV1: ((Int32) throws(CorralError) -> Void)? =
                    cgroup.needsAttachForLimits ? { pid throws(CorralError) in try cgroup.attach(pid, includingV2: false) } : nil
                return try cgroup.withDescriptor { fd throws(AgentSpawner.Failure) in
                    guard fd >= 0 else { throw .system(SystemError("open(\(cgroup.path))", errno: errno)) }
                    return try AgentSpawner.spawn(SpawnRequest(launch, cgroupFD: fd, placeBeforeExec: placeInV1))
                }
            case .attachBeforeExec:
                return try AgentSpawner.spawn(
                    SpawnRequest(launch, cgroupFD: nil) { pid throws(CorralError) in try cgroup.attach(pid, includingV2: true) }
                )
            }
        } catch .cgroupRefused(let cause) {
            logger.warning(
                "starting agents inside their cgroup was refused; they are now moved there before they run",
                metadata: ["error": "\(cause)"]
            )
            placementState.withLock { $0 = .attachBeforeExec }
            return try spawn(launch, into: cgroup)
        } catch {
            throw error.asCorralError(launch)
        }
    }
}

/// One session held by its cgroup.
final class CgroupTree: AbandonableTree {
    let sessionID: SessionID
    let leader: PidFD
    let leaderStartTime: UInt64?
    let cgroup: SessionCgroup
    let enforcedLimits: Set<LimitViolation>
    private let monitor: ProcessMonitor
    private let eventsWatch: Int32?
    private let leaderWatch: LeaderWatch
    /// Taken over from an earlier corral: the session's orphans are not re-parented to this one.
    private let adopted: Bool
    /// Forked by the template that `origin` names: its leader is the template's child, not
    /// corral's, while the template lives.
    let forkedFrom: UInt64?
    var kind: ContainmentKind { .cgroup }
    var pgid: Int32 { leader.pid }
    var cgroupPath: String? { cgroup.path }

    init(
        sessionID: SessionID,
        leader: PidFD,
        leaderStartTime: UInt64?,
        cgroup: SessionCgroup,
        root: CgroupRoot,
        monitor: ProcessMonitor,
        adopted: Bool = false,
        forkedFrom: UInt64? = nil
    ) {
        self.sessionID = sessionID
        self.adopted = adopted
        self.forkedFrom = forkedFrom
        self.leader = leader
        self.leaderStartTime = leaderStartTime
        self.cgroup = cgroup
        self.monitor = monitor
        self.leaderWatch = LeaderWatch(monitor: monitor)
        var enforced = Set<LimitViolation>()
        if root.v2Controllers.contains("memory") || cgroup.v1Paths["memory"] != nil { enforced.insert(.memory) }
        if root.v2Controllers.contains("pids") || cgroup.v1Paths["pids"] != nil { enforced.insert(.pids) }
        self.enforcedLimits = enforced
        // Each change of cgroup.events (populated 1 → 0) wakes whoever waits for the end.
        self.eventsWatch = monitor.watchModifications(of: cgroup.eventsFile)
    }

    func watchLeaderExit(_ handler: @escaping ProcessMonitor.ExitHandler) throws(SystemError) {
        if let forkedFrom {
            try leaderWatch.startForked(leader, origin: forkedFrom, onExit: handler)
        } else {
            try leaderWatch.start(leader, onExit: handler)
        }
    }

    func signalAll(_ signal: Int32) {
        send([signal], to: cgroup.processes)
    }

    /// A read of the cgroup's processes serves both the listing and the signals. A process forked
    /// between the read and the signal to its parent is not in it, and would sit out the grace
    /// period to be killed (an agent forking every few milliseconds was, at most ends): the
    /// cgroup is read again, and the newcomers signalled, until a read finds none (a few times at
    /// most; what a fork storm goes on making is killed after the grace period).
    func listAndSignal(_ signals: [Int32]) -> [(pid: Int32, pgid: Int32)] {
        var pids = cgroup.processes
        var members = Self.groups(of: pids)
        send(signals, to: pids)
        var signalled = Set(pids)
        for _ in 0..<8 {
            pids = cgroup.processes.filter { !signalled.contains($0) }
            guard !pids.isEmpty else { break }
            members += Self.groups(of: pids)
            send(signals, to: pids, leaderToo: false)
            signalled.formUnion(pids)
        }
        return members
    }

    private func send(_ signals: [Int32], to pids: [Int32], leaderToo: Bool = true) {
        if leaderToo {
            for signal in signals { _ = try? leader.signal(signal) }
        }
        for pid in pids where pid != leader.pid {
            // The pid may have been recycled since cgroup.procs was read: open a pidfd first,
            // then check that the process it names is still in this cgroup.
            guard let pidFD = try? PidFD.open(pid: pid) else { continue }
            if cgroup.contains(pid) {
                for signal in signals { _ = try? pidFD.signal(signal) }
            }
            pidFD.close()
        }
    }

    func killAll() {
        if !cgroup.kill() { signalAll(SIGKILL) }
    }

    /// Nothing runs in the cgroup (`populated 0`), and, for a session corral spawned, its dead
    /// processes have been reaped too: a process group with zombies still answers signal 0, and
    /// a caller checking the group right after the end must find it gone. A forked leader is
    /// reaped by its template, which corral does not wait for.
    var isEmpty: Bool {
        guard !cgroup.isPopulated else { return false }
        return adopted || forkedFrom != nil || (!Syscall.processGroupExists(pgid) && !leaderWatch.awaitingExit)
    }

    var leaderExit: ExitStatus? { leaderWatch.exitStatus }

    func members() -> ProcessListing {
        var pids = cgroup.processes
        if let index = pids.firstIndex(of: leader.pid) {
            pids.remove(at: index)
            pids.insert(leader.pid, at: 0)
        }
        return SessionProcessScanner.listing(of: pids)
    }

    func memberGroups() -> [(pid: Int32, pgid: Int32)] {
        Self.groups(of: cgroup.processes)
    }

    private static func groups(of pids: [Int32]) -> [(pid: Int32, pgid: Int32)] {
        pids.compactMap { pid in ProcFS.stat(pid).map { (pid, $0.pgid) } }
    }

    func limitViolation() -> LimitViolation? { cgroup.violation() }

    var needsProcessTable: Bool { false }

    func usage(in table: ProcessTable?) -> ResourceUsage {
        let pids = cgroup.processes
        return ResourceUsage(memoryBytes: cgroup.memoryBytes() ?? SessionProcessScanner.residentBytes(of: pids), processes: pids.count)
    }

    func proportionalMemory(in table: ProcessTable?) -> UInt64 {
        SessionProcessScanner.proportionalBytes(of: cgroup.processes)
    }

    func track(_ table: ProcessTable) {}

    func release() {
        detach()
        cgroup.remove()
    }

    func detach() {
        leaderWatch.stop()
        if let eventsWatch { monitor.unwatchModifications(eventsWatch) }
        leader.close()
    }

    func abandon() {
        leader.killAndReap()
        if !cgroup.kill() { signalAll(SIGKILL) }
        let deadline = ContinuousClock.now + .seconds(5)
        while cgroup.isPopulated && ContinuousClock.now < deadline { usleep(1000) }
        release()
    }
}
