import CorralPlatform
import Foundation
import CorralConfiguration
import CorralStore

/// Every session and idle prewarmed agent of this corral, as a value: which exist and under
/// which ids (an agent handed a session still answers to its idle id), the ids and room places
/// held by starts under way, whose leader each pid is, how many there are of each agent and
/// status, and whether one more may start. It changes only through its methods, which return
/// what the supervisor must do; it holds no processes, timers or stores, so each decision is
/// tested alone (`SessionTableTests`), like `SessionLifecycle`.
struct SessionTable {
    struct Entry {
        let instance: UInt64
        let profile: AgentProfile
        /// The record as stored: its `status` is the last one persisted.
        var record: SessionRecord
        var lifecycle = SessionLifecycle()
        /// `session.started` has been published (later changes go out as `session.status`).
        var announced = false
        /// An idle agent being handed a session: no other start may take it.
        var assigning = false
        /// Ids it had before (an idle agent's), which still lead to it.
        var formerIDs: [SessionID] = []
        /// Its leader's pid, known from the moment it was spawned (the record has it later).
        fileprivate(set) var leader: Int32?
        /// Where the gauges count it.
        fileprivate(set) var bucket: Bucket?
        let handles: SessionHandles

        var id: SessionID { record.id }
        var isIdle: Bool { record.start == .idle }
        var isTemplate: Bool { record.start == .template }
        var isSession: Bool { record.isSession }
        var isStopping: Bool { lifecycle.isStopping }
        /// The record with the status the API shows.
        var snapshot: SessionRecord {
            var record = record
            record.status = lifecycle.status
            return record
        }
    }

    /// One line of the gauges: the live sessions (or idle agents) of an agent in one status.
    struct Bucket: Hashable, Sendable {
        let agent: String
        let idle: Bool
        let status: SessionStatus
    }

    enum Effect: Equatable {
        /// Carry out this lifecycle action for the session the event was about.
        case lifecycle(SessionLifecycle.Action)
        /// A gauge changed: `bucket` now holds `count`.
        case count(Bucket, Int)
        /// An announced session's status changed (`session.status`).
        case statusChanged(SessionStatus)
        /// A place came free: an idle agent may be started.
        case refill
    }

    /// A start under way that holds its id, and its place in a room, before it is in the table.
    struct Reservation: Equatable {
        let agent: String
        let room: String?
        /// It will add a process (a worker job's slot), so it counts toward `max_sessions`; a warm
        /// start takes an idle agent that is counted already.
        let takesPlace: Bool
    }

    private(set) var entries: [SessionID: Entry] = [:]
    private var aliases: [SessionID: SessionID] = [:]
    private var reservations: [SessionID: Reservation] = [:]
    private var leaders: [Int32: SessionID] = [:]
    private(set) var counts: [Bucket: Int] = [:]
    /// Sessions (not idle agents) that run LiveKit jobs.
    private(set) var jobs = 0
    /// Templates: they hold no session's place.
    private(set) var templates = 0
    private var lastInstance: UInt64 = 0
    /// `max_sessions`: sessions, idle agents and reserved places together (templates are not
    /// counted: a profile has one, and it serves no session itself).
    let capacity: Int

    init(capacity: Int) {
        self.capacity = capacity
    }

    // MARK: Admission

    /// Sessions, idle agents and reserved places: what counts toward `capacity`.
    var occupied: Int { entries.count - templates + reservations.values.count(where: \.takesPlace) }

    var hasRoom: Bool { occupied < capacity }

    /// Throws `conflict` if `id` names a session, idle agent or start under way.
    func checkFree(_ id: SessionID) throws(CorralError) {
        guard entries[id] == nil, reservations[id] == nil, aliases[id] == nil else {
            throw CorralError.sessionIDInUse(id)
        }
    }

    /// Throws `conflict` if `room` already has `limit` sessions (or starts) of `agent`.
    func checkRoom(_ room: String, agent: String, limit: Int) throws(CorralError) {
        let present =
            entries.values.count { $0.record.livekitRoom == room && $0.record.agent == agent }
            + reservations.values.count { $0.room == room && $0.agent == agent }
        guard present < limit else {
            throw CorralError(.conflict, "room '\(room)' already has \(present) session(s) of agent '\(agent)' (livekit.sessions_per_room is \(limit))")
        }
    }

    func checkCapacity() throws(CorralError) {
        guard hasRoom else {
            throw CorralError(.unavailable, "at capacity: \(capacity) sessions are running (max_sessions); end one or raise max_sessions")
        }
    }

    /// Reserves `id`; a place reserved already stays reserved (a warm start of a job whose place
    /// was held for it).
    mutating func reserve(_ id: SessionID, _ reservation: Reservation) {
        let keepsPlace = reservations[id]?.takesPlace == true
        reservations[id] = Reservation(agent: reservation.agent, room: reservation.room, takesPlace: reservation.takesPlace || keepsPlace)
    }

    func isReserved(_ id: SessionID) -> Bool { reservations[id] != nil }

    mutating func unreserve(_ id: SessionID) {
        reservations[id] = nil
    }

    // MARK: Joining and leaving

    /// A session (or idle agent) about to be spawned, or an adopted one, joins the table.
    mutating func insert(_ record: SessionRecord, profile: AgentProfile, handles: SessionHandles, announced: Bool = false) -> (Entry, [Effect]) {
        lastInstance += 1
        reservations[record.id] = nil
        var entry = Entry(instance: lastInstance, profile: profile, record: record, handles: handles)
        entry.announced = announced
        entry.leader = record.pid
        if let pid = record.pid { leaders[pid] = record.id }
        var effects: [Effect] = []
        recount(&entry, as: record.status, into: &effects)
        if Self.runsJob(entry) { jobs += 1 }
        if entry.isTemplate { templates += 1 }
        entries[record.id] = entry
        return (entry, effects)
    }

    /// The session leaves the table: its ids, its leader's pid and its place are free again.
    mutating func remove(_ id: SessionID, instance: UInt64) -> (Entry, [Effect])? {
        guard var entry = resolve(id, instance: instance) else { return nil }
        var effects: [Effect] = []
        recount(&entry, as: nil, into: &effects)
        if Self.runsJob(entry) { jobs -= 1 }
        if entry.isTemplate { templates -= 1 }
        entries[entry.id] = nil
        for former in entry.formerIDs { aliases[former] = nil }
        for pid in [entry.leader, entry.record.pid].compactMap(\.self) where leaders[pid] == entry.id { leaders[pid] = nil }
        effects.append(.refill)
        return (entry, effects)
    }

    /// Every entry leaves at once (corral detaches from its sessions); no effects.
    mutating func removeAll() -> [Entry] {
        defer {
            entries.removeAll()
            aliases.removeAll()
            leaders.removeAll()
            jobs = 0
            templates = 0
        }
        return Array(entries.values)
    }

    // MARK: Changes

    /// A lifecycle event for the session that `id` named when `instance` was current. Returns
    /// nothing if that session is gone (a late timer, an exit after the end).
    mutating func handle(_ event: SessionLifecycle.Event, for id: SessionID, instance: UInt64, now: Date = Date()) -> [Effect] {
        guard var entry = resolve(id, instance: instance) else { return [] }
        var effects: [Effect] = []
        for action in entry.lifecycle.handle(event) {
            effects.append(.lifecycle(action))
            if case .persist(let status) = action {
                let changed = entry.record.status != status
                entry.record.status = status
                if status == .running, entry.record.readyAt == nil { entry.record.readyAt = now }
                recount(&entry, as: status, into: &effects)
                // The first status goes out with `session.started`.
                if changed && entry.announced { effects.append(.statusChanged(status)) }
            }
        }
        entries[entry.id] = entry
        return effects
    }

    /// The leader was spawned (or its identity read): the record carries it, and its pid leads
    /// to the session.
    mutating func spawned(_ id: SessionID, instance: UInt64, tree: any ContainedTree) {
        guard var entry = resolve(id, instance: instance) else { return }
        entry.record.pid = tree.leader.pid
        entry.record.pgid = tree.pgid
        entry.record.isGroupLeader = tree.pgid == tree.leader.pid
        entry.record.leaderStartTime = tree.leaderStartTime
        entry.record.containment = tree.kind
        entry.record.cgroupPath = tree.cgroupPath
        entry.leader = tree.leader.pid
        leaders[tree.leader.pid] = entry.id
        entries[entry.id] = entry
    }

    /// The leader of a session being launched has this pid: messages from it (and from the
    /// processes of its kernel session) lead to the session before the spawn has returned.
    mutating func leaderStarted(_ pid: Int32, for id: SessionID, instance: UInt64) {
        guard var entry = resolve(id, instance: instance) else { return }
        entry.leader = pid
        leaders[pid] = entry.id
        entries[entry.id] = entry
    }

    /// Changes fields of the session's record that are facts, not decisions (its log's path).
    mutating func update(_ id: SessionID, instance: UInt64, _ change: (inout SessionRecord) -> Void) {
        guard var entry = resolve(id, instance: instance) else { return }
        change(&entry.record)
        entries[entry.id] = entry
    }

    mutating func markAnnounced(_ id: SessionID) {
        entries[id]?.announced = true
    }

    mutating func setAssigning(_ id: SessionID, _ assigning: Bool) {
        entries[id]?.assigning = assigning
    }

    /// An idle agent becomes the session `record` describes: it moves to the new id and keeps
    /// answering to its idle id (exits and timers registered under it still find it).
    mutating func handOver(_ idleID: SessionID, instance: UInt64, to record: SessionRecord) -> [Effect] {
        guard var entry = resolve(idleID, instance: instance) else { return [] }
        var effects: [Effect] = []
        recount(&entry, as: nil, into: &effects)
        entries[entry.id] = nil
        aliases[entry.id] = record.id
        entry.formerIDs.append(entry.id)
        if Self.runsJob(entry) { jobs -= 1 }
        entry.record = record
        if Self.runsJob(entry) { jobs += 1 }
        if let pid = record.pid { leaders[pid] = record.id }
        recount(&entry, as: record.status, into: &effects)
        entries[record.id] = entry
        return effects
    }

    private static func runsJob(_ entry: Entry) -> Bool {
        entry.isSession && entry.record.livekitJobID != nil
    }

    /// Moves the entry's gauge line to `status` (nil: out of the gauges). Templates have their
    /// own gauge (`corral_template_up`).
    private mutating func recount(_ entry: inout Entry, as status: SessionStatus?, into effects: inout [Effect]) {
        let bucket = entry.isTemplate ? nil : status.map { Bucket(agent: entry.record.agent, idle: entry.isIdle, status: $0) }
        guard entry.bucket != bucket else { return }
        if let old = entry.bucket {
            counts[old, default: 0] -= 1
            effects.append(.count(old, counts[old]!))
        }
        if let bucket {
            counts[bucket, default: 0] += 1
            effects.append(.count(bucket, counts[bucket]!))
        }
        entry.bucket = bucket
    }

    // MARK: Lookups

    /// The session `id` named when `instance` was current, if it still is that session (it may
    /// have taken another id since: an idle agent handed a session).
    func resolve(_ id: SessionID, instance: UInt64) -> Entry? {
        if let entry = entries[id], entry.instance == instance { return entry }
        if let current = aliases[id], let entry = entries[current], entry.instance == instance { return entry }
        return nil
    }

    /// The entry `id` names now, following an idle agent's former id if `followingAliases`.
    func entry(_ id: SessionID, followingAliases: Bool = false) -> Entry? {
        entries[id] ?? (followingAliases ? aliases[id].flatMap { entries[$0] } : nil)
    }

    /// The session whose leader has `pid`.
    func owner(ofLeader pid: Int32) -> Entry? {
        leaders[pid].flatMap { entries[$0] }
    }

    /// Whether a stored record is already one of this table's, by id, former id or leader. A
    /// leader is matched by its pid and, where both are known, its start time: a record whose
    /// leader died while corral was down may name a pid that a leader spawned since has taken,
    /// and that record is not this table's (its remains are cleaned up, by cgroup or tag).
    func holds(_ record: SessionRecord) -> Bool {
        if entries[record.id] != nil || aliases[record.id] != nil { return true }
        guard let pid = record.pid, let id = leaders[pid] else { return false }
        guard let stored = record.leaderStartTime, let held = entries[id]?.record.leaderStartTime else { return true }
        return stored == held
    }

    /// Sessions (not idle agents or templates), oldest first.
    var sessions: [Entry] { Self.inOrder(entries.values.filter(\.isSession)) }

    /// Idle agents of `agent`, or of every agent.
    func idleAgents(of agent: String? = nil) -> [Entry] {
        Self.inOrder(entries.values.filter { $0.isIdle && (agent == nil || $0.record.agent == agent) })
    }

    var hasSessions: Bool { entries.values.contains(where: \.isSession) }

    /// The live (not stopping) template entries.
    var templateEntries: [Entry] { entries.values.filter { $0.isTemplate } }

    /// Sessions (not idle agents), from the gauges' counts: no walk over the table.
    var sessionCount: Int { counts.reduce(0) { $1.key.idle ? $0 : $0 + $1.value } }

    /// Live sessions bound to a LiveKit room.
    func sessions(inRoom room: String) -> [SessionID] {
        entries.values.filter { $0.isSession && $0.record.livekitRoom == room }.map(\.id)
    }

    /// The live session in `room` whose agent has this LiveKit identity.
    func session(inRoom room: String, identity: String) -> SessionID? {
        entries.values.first { $0.isSession && $0.record.livekitRoom == room && $0.record.livekitIdentity == identity }?.id
    }

    /// Oldest first. The ids (strings: a retain and a release each) are compared only when the
    /// times are equal: a list at 1,000 sessions spent a tenth of its time there.
    static func inOrder(_ entries: [Entry]) -> [Entry] {
        entries.sorted { first, second in
            let firstCreated = first.record.createdAt
            let secondCreated = second.record.createdAt
            return firstCreated != secondCreated ? firstCreated < secondCreated : first.record.id < second.record.id
        }
    }
}
