import CorralPlatform
import Synchronization
import CorralStore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Containment by process group, for hosts without a usable cgroup v2 hierarchy. Each agent
/// leads its own session and process group, and the group is signalled as a whole. Descendants
/// that leave the group (`setsid()`, a double-forked daemon) are found by ancestry, by their
/// kernel session, by the `CORRAL_SESSION_ID` in their environment (corral is their subreaper
/// once their parent dies) and by sightings kept as they appear (in the session's record too, for
/// a restarted corral); they are signalled one by one
/// through pidfds. Ending a session and listing it read only its own processes and corral's
/// orphans (`SessionTreeWalk`), not every process on the host; only a session adopted from an
/// earlier corral needs the full scan. What it cannot catch: a process that leaves the group, clears its environment
/// and loses its parent between two tracking passes; limits are only watched, not enforced.
public struct ProcessGroupContainment: Containment {
    public var kind: ContainmentKind { .processGroup }

    public init() {}

    public func launch(
        _ launch: AgentLaunch,
        monitor: ProcessMonitor,
        register: (any ContainedTree) throws(CorralError) -> Void
    ) throws(CorralError) -> any ContainedTree {
        try monitor.withSpawnGate { () throws(CorralError) -> any ContainedTree in
            let spawned: SpawnedProcess
            do throws(AgentSpawner.Failure) {
                spawned = try AgentSpawner.spawn(SpawnRequest(launch, cgroupFD: nil))
            } catch {
                throw error.asCorralError(launch)
            }
            let tree = ProcessGroupTree(
                sessionID: launch.sessionID,
                leader: spawned.pidFD,
                leaderStartTime: spawned.startTime,
                monitor: monitor
            )
            return try tree.registered(with: register)
        }
    }

    public func adopt(_ record: SessionRecord, leader: PidFD, limits: ResourceLimits, monitor: ProcessMonitor) -> any ContainedTree {
        let tree = ProcessGroupTree(
            sessionID: record.tag, leader: leader, leaderStartTime: record.leaderStartTime, monitor: monitor, adopted: true,
            sightings: Self.believable(record.sightings, of: record, leader: leader.pid)
        )
        tree.recognise(record.id)
        return tree
    }

    /// The record's sightings that can still be the session's processes. A record is data (a
    /// file, a Redis hash signed with a secret that may have leaked): a sighting names no mark a
    /// process carries, so it is believed only beside a leader that was verified (pid, start
    /// time and tags), of a process started after that leader, run by the leader's user, and
    /// carrying no other session's id. Without a verified leader (it died while corral was
    /// down) sightings are not acted on at all.
    static func believable(_ sightings: [ProcessSighting], of record: SessionRecord, leader: Int32) -> [ProcessSighting] {
        guard !sightings.isEmpty, let leaderStart = record.leaderStartTime, let user = ProcFS.owner(leader) else { return [] }
        return sightings.filter { sighting in
            guard sighting.startTime >= leaderStart, let stat = ProcFS.stat(sighting.pid), !stat.isZombie, stat.startTime == sighting.startTime,
                ProcFS.owner(sighting.pid) == user
            else { return false }
            let carried = ProcFS.environmentValue(sighting.pid, "CORRAL_SESSION_ID")
            return carried == nil || carried == record.tag.rawValue || carried == record.id.rawValue
        }
    }

    public func cleanUpRemains(of record: SessionRecord, instanceID: String) {
        TaggedProcesses.kill(instanceID: instanceID) { $0 == record.tag.rawValue || $0 == record.id.rawValue }
    }
}

/// One session held by its process group, plus the escaped descendants found so far.
final class ProcessGroupTree: AbandonableTree {
    let sessionID: SessionID
    let leader: PidFD
    let leaderStartTime: UInt64?
    var kind: ContainmentKind { .processGroup }
    var pgid: Int32 { leader.pid }
    var cgroupPath: String? { nil }
    var enforcedLimits: Set<LimitViolation> { [] }

    /// Taken over from an earlier corral: the session's orphans are not re-parented to this one.
    private let adopted: Bool
    /// Processes of the session outside its group, by pidfd.
    private let escapees = Mutex<[Int32: PidFD]>([:])
    /// Processes of the session seen outside its group (pid → start time), recorded as they
    /// appear so that one that later loses every other trace is still known.
    private let seen: Mutex<[Int32: UInt64]>
    /// The `CORRAL_SESSION_ID` values its processes carry.
    private let tags: Mutex<Set<String>>

    private let leaderWatch: LeaderWatch
    private let monitor: ProcessMonitor

    /// `sightings`: those an earlier corral recorded, for an adopted session.
    init(
        sessionID: SessionID, leader: PidFD, leaderStartTime: UInt64?, monitor: ProcessMonitor, adopted: Bool = false,
        sightings: [ProcessSighting] = []
    ) {
        self.sessionID = sessionID
        self.monitor = monitor
        self.leaderWatch = LeaderWatch(monitor: monitor)
        self.tags = Mutex([sessionID.rawValue])
        self.leader = leader
        self.leaderStartTime = leaderStartTime
        self.adopted = adopted
        self.seen = Mutex(Dictionary(sightings.map { ($0.pid, $0.startTime) }) { first, _ in first })
    }

    private var scannerSession: SessionProcessScanner.Session {
        .init(ids: tags.withLock { $0 }, leader: leader.pid, leaderStartTime: leaderStartTime)
    }

    func recognise(_ id: SessionID) {
        _ = tags.withLock { $0.insert(id.rawValue) }
    }

    func watchLeaderExit(_ handler: @escaping ProcessMonitor.ExitHandler) throws(SystemError) {
        try leaderWatch.start(leader, onExit: handler)
    }

    func signalAll(_ signal: Int32) {
        _ = listAndSignal([signal])
    }

    /// One walk of the session's processes serves both the listing and the escapees' signals.
    func listAndSignal(_ signals: [Int32]) -> [(pid: Int32, pgid: Int32)] {
        let members = currentMembers()
        for signal in signals {
            _ = try? leader.signal(signal)
            // Safe while the group has members: Linux does not reuse a pid that is still a group id.
            _ = try? Syscall.signalProcessGroup(pgid, signal)
        }
        refreshEscapees(from: members)
        for escapee in escapees.withLock({ Array($0.values) }) {
            for signal in signals { _ = try? escapee.signal(signal) }
        }
        return members.map { ($0.pid, $0.stat.pgid) }
    }

    func killAll() { signalAll(SIGKILL) }

    /// The group is empty and so is every escapee, including any not seen before: an agent that
    /// exits by itself may leave only processes outside its group. Cheap checks first (a signal 0
    /// to the group, the known escapees' pidfds); /proc is read only once they say "empty".
    var isEmpty: Bool {
        if Syscall.processGroupExists(pgid) {
            // Zombies count as group members but run nothing. corral reaps the orphans of the
            // sessions it started (it is their subreaper); those of an adopted session belong to
            // init, which on some hosts never reaps them.
            guard adopted, leader.hasExited, !ProcessTable.read().hasLiveMember(ofGroup: pgid) else { return false }
        }
        guard adopted || !leaderWatch.awaitingExit else { return false }
        guard escapees.withLock({ $0.values.allSatisfy(\.hasExited) }) else { return false }
        refreshEscapees(from: currentMembers())
        return escapees.withLock { $0.values.allSatisfy(\.hasExited) }
    }

    var leaderExit: ExitStatus? { leaderWatch.exitStatus }

    var isKnownNonEmpty: Bool {
        (Syscall.processGroupExists(pgid) && !(adopted && leader.hasExited))
            || escapees.withLock { $0.values.contains { !$0.hasExited } }
    }

    func members() -> ProcessListing {
        SessionProcessScanner.listing(of: currentMembers())
    }

    func memberGroups() -> [(pid: Int32, pgid: Int32)] {
        currentMembers().map { ($0.pid, $0.stat.pgid) }
    }

    func limitViolation() -> LimitViolation? { nil }

    var needsProcessTable: Bool { true }

    func usage(in table: ProcessTable?) -> ResourceUsage {
        let pids = table.map(memberPIDs(in:)) ?? currentMembers().map(\.pid)
        return ResourceUsage(memoryBytes: SessionProcessScanner.residentBytes(of: pids), processes: pids.count)
    }

    func proportionalMemory(in table: ProcessTable?) -> UInt64 {
        SessionProcessScanner.proportionalBytes(of: table.map(memberPIDs(in:)) ?? currentMembers().map(\.pid))
    }

    /// Records the session's processes outside its group as they appear in `table`, and
    /// forgets those that are gone. Gone by the kernel's word, each alone: a table read short
    /// (out of descriptors) would have wiped every sighting, in memory and in the record.
    func track(_ table: ProcessTable) {
        let outside = SessionProcessScanner.members(of: scannerSession, in: table).filter { table.processes[$0]?.pgid != pgid }
        seen.withLock { sightings in
            sightings = sightings.filter { pid, start in
                table.processes[pid]?.startTime == start || (Syscall.processExists(pid) && ProcFS.stat(pid).map { $0.startTime == start } ?? true)
            }
            for pid in outside { sightings[pid] = table.processes[pid]?.startTime }
        }
    }

    var sightings: [ProcessSighting] {
        seen.withLock { $0 }.map { ProcessSighting(pid: $0.key, startTime: $0.value) }.sorted().prefix(ProcessSighting.recordedLimit).map(\.self)
    }

    func release() { detach() }

    func detach() {
        leaderWatch.stop()
        leader.close()
        escapees.withLock { escapees in
            for escapee in escapees.values { escapee.close() }
            escapees.removeAll()
        }
    }

    func abandon() {
        leader.killAndReap()
        _ = try? Syscall.signalProcessGroup(pgid, SIGKILL)
    }

    /// The session's processes now, the leader first. One corral started is walked from its
    /// leader down and its orphans are found among corral's children (`SessionTreeWalk`); an
    /// adopted one (or any, where the kernel lists no children) needs every process read.
    private func currentMembers() -> [SessionTreeWalk.Member] {
        guard !adopted, ProcFS.listsChildren else {
            let table = ProcessTable.read()
            return memberPIDs(in: table).compactMap { pid in table.processes[pid].map { .init(pid: pid, stat: $0) } }
        }
        return SessionTreeWalk(session: scannerSession, leaders: monitor.leaderPIDs(), sightings: seen.withLock { $0 }).members()
    }

    private func memberPIDs(in table: ProcessTable) -> [Int32] {
        var pids = SessionProcessScanner.members(of: scannerSession, in: table)
        let known = Set(pids)
        for (pid, start) in seen.withLock({ $0 }) where !known.contains(pid) && table.processes[pid]?.startTime == start {
            pids.append(pid)
        }
        return pids
    }

    /// Opens pidfds for the session's processes outside its group. A pidfd is kept only if the
    /// process it refers to is still the one seen (same start time), so a recycled pid is never
    /// signalled.
    private func refreshEscapees(from members: [SessionTreeWalk.Member]) {
        for member in members where member.stat.pgid != pgid && member.pid != leader.pid {
            guard escapees.withLock({ $0[member.pid] == nil }), let pidFD = try? PidFD.open(pid: member.pid) else { continue }
            guard ProcFS.stat(member.pid)?.startTime == member.stat.startTime else {
                pidFD.close()
                continue
            }
            escapees.withLock { $0[member.pid] = pidFD }
        }
    }
}
