@testable import CorralPlatform
import Foundation
import Testing

@testable import CorralCore
@testable import CorralConfiguration
@testable import CorralStore

/// The table's decisions, without processes or stores: what counts toward capacity, which ids
/// are taken, how the gauges move, which events still reach a session.
@Suite("Session table")
struct SessionTableTests {
    static let profile = AgentProfile(command: ["/bin/true"])

    static func record(_ id: String, agent: String = "demo", room: String? = nil, start: StartPath = .cold) -> SessionRecord {
        SessionRecord(
            id: SessionID(id)!, agent: agent, createdAt: Date(), expiresAt: Date().addingTimeInterval(60), logPath: "/dev/null",
            livekitRoom: room, start: start
        )
    }

    static func insert(_ table: inout SessionTable, _ record: SessionRecord) -> SessionTable.Entry {
        table.insert(record, profile: profile, handles: SessionHandles(limits: profile.limits)).0
    }

    @Test func reservedPlacesCountTowardCapacityWarmStartsDoNot() throws {
        var table = SessionTable(capacity: 2)
        _ = Self.insert(&table, Self.record("a"))
        #expect(table.hasRoom)
        table.reserve(SessionID("warm")!, .init(agent: "demo", room: nil, takesPlace: false))
        #expect(table.hasRoom, "a warm start takes an idle agent that is counted already")
        table.reserve(SessionID("b")!, .init(agent: "demo", room: nil, takesPlace: true))
        #expect(!table.hasRoom)
        #expect(throws: CorralError.self) { try table.checkCapacity() }
        // The reserved start joins the table: its reservation becomes its entry, not a second place.
        _ = Self.insert(&table, Self.record("b"))
        #expect(table.occupied == 2)
        table.unreserve(SessionID("warm")!)
        table.unreserve(SessionID("b")!)
        #expect(table.occupied == 2)
    }

    /// A stored record names a leader's pid: it is the table's only if that pid's start time is
    /// the held leader's too (the pid may have been taken by a leader spawned since).
    @Test func aRecordIsHeldByItsLeaderOnlyWithTheLeadersStartTime() {
        var table = SessionTable(capacity: 10)
        var live = Self.record("live")
        live.pid = 4242
        live.leaderStartTime = 1000
        _ = Self.insert(&table, live)
        var stale = Self.record("stale")
        stale.pid = 4242
        stale.leaderStartTime = 900
        #expect(!table.holds(stale), "a dead leader's pid, taken since by another leader")
        stale.leaderStartTime = 1000
        #expect(table.holds(stale), "the same process under an id the table does not know")
        stale.leaderStartTime = nil
        #expect(table.holds(stale), "without a start time, the pid decides")
        #expect(table.holds(live))
    }

    @Test func idsOfSessionsStartsAndFormerIdleAgentsAreTaken() throws {
        var table = SessionTable(capacity: 10)
        let idle = Self.insert(&table, Self.record("idle-1", start: .idle))
        table.reserve(SessionID("starting")!, .init(agent: "demo", room: nil, takesPlace: true))
        #expect(throws: CorralError.self) { try table.checkFree(SessionID("idle-1")!) }
        #expect(throws: CorralError.self) { try table.checkFree(SessionID("starting")!) }
        var session = idle.record
        session.id = SessionID("call-1")!
        session.start = .warm
        _ = table.handOver(idle.id, instance: idle.instance, to: session)
        #expect(throws: CorralError.self) { try table.checkFree(SessionID("idle-1")!) }
        #expect(throws: CorralError.self) { try table.checkFree(SessionID("call-1")!) }
        #expect(table.resolve(SessionID("idle-1")!, instance: idle.instance)?.id == SessionID("call-1")!, "exits and timers under the idle id reach the session")
        _ = table.remove(SessionID("call-1")!, instance: idle.instance)
        try table.checkFree(SessionID("idle-1")!)
        try table.checkFree(SessionID("call-1")!)
    }

    @Test func aRoomCountsItsSessionsAndStartsUnderWay() throws {
        var table = SessionTable(capacity: 10)
        _ = Self.insert(&table, Self.record("a", room: "lobby"))
        #expect(throws: CorralError.self) { try table.checkRoom("lobby", agent: "demo", limit: 1) }
        try table.checkRoom("lobby", agent: "other", limit: 1)
        try table.checkRoom("lobby", agent: "demo", limit: 2)
        table.reserve(SessionID("b")!, .init(agent: "demo", room: "lobby", takesPlace: true))
        #expect(throws: CorralError.self) { try table.checkRoom("lobby", agent: "demo", limit: 2) }
    }

    @Test func gaugesFollowThePersistedStatus() {
        var table = SessionTable(capacity: 10)
        let (entry, inserted) = table.insert(Self.record("a"), profile: Self.profile, handles: SessionHandles(limits: .init()))
        let starting = SessionTable.Bucket(agent: "demo", idle: false, status: .starting)
        let running = SessionTable.Bucket(agent: "demo", idle: false, status: .running)
        #expect(inserted == [.count(starting, 1)])
        #expect(
            table.handle(.spawned(.exec), for: entry.id, instance: entry.instance)
                == [.lifecycle(.persist(.running)), .count(starting, 0), .count(running, 1), .lifecycle(.startDeadlineTimer)]
        )
        let removed = table.remove(entry.id, instance: entry.instance)
        #expect(removed?.1 == [.count(running, 0), .refill])
        #expect(table.counts[running] == 0)
    }

    @Test func statusChangesAreAnnouncedOnlyOnceTheStartWasAnnounced() {
        var table = SessionTable(capacity: 10)
        let entry = Self.insert(&table, Self.record("a"))
        #expect(!table.handle(.spawned(.notify), for: entry.id, instance: entry.instance).contains(.statusChanged(.starting)))
        table.markAnnounced(entry.id)
        #expect(table.handle(.ready, for: entry.id, instance: entry.instance).contains(.statusChanged(.running)))
    }

    @Test func eventsForAnEarlierSessionWithTheSameIdAreIgnored() {
        var table = SessionTable(capacity: 10)
        let first = Self.insert(&table, Self.record("a"))
        _ = table.remove(first.id, instance: first.instance)
        let second = Self.insert(&table, Self.record("a"))
        #expect(table.handle(.deadlineReached, for: first.id, instance: first.instance) == [], "a late timer of the ended session")
        #expect(table.handle(.spawned(.exec), for: second.id, instance: second.instance).contains(.lifecycle(.persist(.running))))
    }

    @Test func aLeaderIsKnownFromItsSpawnUntilItsSessionLeaves() {
        var table = SessionTable(capacity: 10)
        let entry = Self.insert(&table, Self.record("a"))
        table.leaderStarted(4242, for: entry.id, instance: entry.instance)
        #expect(table.owner(ofLeader: 4242)?.id == entry.id)
        _ = table.remove(entry.id, instance: entry.instance)
        #expect(table.owner(ofLeader: 4242) == nil)
    }

    @Test func sessionsAndJobsAreCountedWithoutAWalk() {
        var table = SessionTable(capacity: 10)
        var job = Self.record("lk-J1")
        job.livekitJob = LiveKitJob(jobID: "J1", dispatchID: nil, agentName: "receptionist")
        let jobEntry = Self.insert(&table, job)
        _ = Self.insert(&table, Self.record("plain"))
        let idle = Self.insert(&table, Self.record("idle-1", start: .idle))
        #expect(table.sessionCount == 2 && table.jobs == 1)
        // An idle agent handed a job becomes one.
        var handed = idle.record
        handed.id = SessionID("lk-J2")!
        handed.start = .warm
        handed.livekitJob = LiveKitJob(jobID: "J2", dispatchID: nil, agentName: "receptionist")
        _ = table.handOver(idle.id, instance: idle.instance, to: handed)
        #expect(table.sessionCount == 3 && table.jobs == 2)
        _ = table.remove(jobEntry.id, instance: jobEntry.instance)
        #expect(table.sessionCount == 2 && table.jobs == 1)
    }
}
