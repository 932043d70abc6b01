import CorralPlatform
import CorralSecurity
import Foundation
import CorralStore

/// What the API and the other parts of corral may ask. Idle prewarmed agents are not sessions.
extension Supervisor {
    public func session(_ id: SessionID) -> SessionRecord? {
        table.entries[id].flatMap { $0.isSession ? $0.snapshot : nil }
    }

    /// Live sessions, oldest first.
    public func allSessions() -> [SessionRecord] {
        table.sessions.map(\.snapshot)
    }

    /// Sessions, idle prewarmed agents and starts under way: what counts toward `max_sessions`.
    public var sessionCount: Int { table.occupied }

    /// Live sessions bound to a LiveKit room.
    public func sessions(inRoom room: String) -> [SessionID] {
        table.sessions(inRoom: room)
    }

    /// The live session in `room` whose agent has this LiveKit identity.
    public func session(inRoom room: String, identity: String) -> SessionID? {
        table.session(inRoom: room, identity: identity)
    }

    public func isLive(_ id: SessionID) -> Bool { session(id) != nil }

    /// How many sessions run, and how many of them LiveKit jobs (the dashboard's chart), without
    /// copying a record: asked every few seconds, also at 10,000 sessions.
    public var activity: (sessions: Int, jobs: Int) { (table.sessionCount, table.jobs) }

    /// Every live session with what it uses (process count, memory), read off the actor. Sessions
    /// of a template profile also show their PSS (`pssBytes`): their own memory leaves out what
    /// they share with the template. It costs a walk of their page tables, so only there.
    public func allSessionsWithUsage() async -> [(SessionRecord, ResourceUsage?)] {
        let entries = table.sessions.map { ($0.snapshot, $0.handles.tree, $0.profile.template != nil) }
        return await Blocking.run {
            let table = entries.contains { $0.1?.needsProcessTable == true } ? ProcessTable.read() : nil
            return entries.map { record, tree, shares in
                guard let tree else { return (record, nil) }
                var usage = tree.usage(in: table)
                if shares { usage.pssBytes = tree.proportionalMemory(in: table) }
                return (record, usage)
            }
        }
    }

    /// The session's log: the live session's, else the latest one left by a session with this
    /// id (logs outlive their sessions until `log_retention_seconds`).
    public func logPath(for id: SessionID) -> (path: String, live: Bool)? {
        if let entry = table.entries[id], entry.isSession { return (entry.record.logPath, true) }
        return dataDirectory.latestLog(for: id).map { ($0, false) }
    }

    /// Whether new sessions are taken: prepared, and not draining or stopping (`/readyz`).
    public var isAccepting: Bool { accepting }

    /// Why a session started now would fail, or nil (`/readyz`): the data directory's filesystem
    /// is full (no log, no record could be written), or the store does not take a write. The
    /// store's answer is kept a second: the probe needs no token, and each is a write. What the
    /// probe is told (paths, the store's own words) goes to the log, not to whoever asked.
    public func readinessProblem() async -> String? {
        if let free = dataDirectory.availableBytes(), free < Self.leastFreeBytes {
            return "the data directory's filesystem is full: session logs and records cannot be written"
        }
        if let last = lastStoreProbe, ContinuousClock.now - last.at < .seconds(1) { return last.problem }
        var problem: String?
        do {
            try await store.ping()
        } catch {
            storeReachable = false
            problem = "the session store does not take writes"
            if lastStoreProbe?.problem == nil {
                logger.warning("not ready: the session store does not take writes", metadata: [LogKey.error: "\(error.message)"])
            }
        }
        lastStoreProbe = (.now, problem)
        return problem
    }

    /// Below this, the data directory's filesystem is full for `/readyz`.
    static let leastFreeBytes: UInt64 = 1 << 20

    /// Every process of the session, read from /proc (off the actor: it may take a while on a
    /// busy host).
    public func processes(_ id: SessionID, withEnvironments: Bool = false) async throws(CorralError) -> ProcessReport {
        guard let entry = table.entries[id], entry.isSession else { throw Self.unknownSession(id) }
        let record = entry.snapshot
        guard let tree = entry.handles.tree else {
            return ProcessReport(record: record, isProcessAlive: false, isGroupAlive: false, listing: ProcessListing(), usage: nil)
        }
        return await Blocking.run {
            var listing = tree.members()
            if withEnvironments {
                for index in listing.entries.indices {
                    var environment = ProcFS.environment(listing.entries[index].pid)
                    // A room token is a credential of the job, not of the host: admins do not see it either.
                    if environment?["LIVEKIT_TOKEN"] != nil { environment?["LIVEKIT_TOKEN"] = Redactor.mask }
                    listing.entries[index].environment = environment
                }
            }
            let leaderAlive = listing.entries.first?.pid == tree.leader.pid
            let table = tree.needsProcessTable ? ProcessTable.read() : nil
            var usage = tree.usage(in: table)
            usage.pssBytes = tree.proportionalMemory(in: table)
            return ProcessReport(record: record, isProcessAlive: leaderAlive, isGroupAlive: !tree.isEmpty, listing: listing, usage: usage)
        }
    }
}

/// What a LiveKit worker asks before it takes a job.
public struct WorkerConditions: Sendable, Equatable {
    /// corral takes new sessions (not draining or stopping).
    public let accepting: Bool
    /// `max_sessions` leaves room for one more.
    public let hasRoom: Bool
    public let storeReachable: Bool
}

extension Supervisor {
    public var workerConditions: WorkerConditions {
        WorkerConditions(accepting: accepting, hasRoom: table.hasRoom, storeReachable: storeReachable)
    }

    /// Live sessions of `agent` that run LiveKit jobs (after a restart: the adopted ones).
    public func jobSessions(of agent: String) -> [SessionRecord] {
        table.sessions.filter { $0.record.agent == agent && $0.record.livekitJobID != nil }.map(\.snapshot)
    }
}
