import CorralConfiguration
import CorralCore
import CorralPlatform
import CorralTestSupport
import Foundation
import Testing

@Suite("Ending sessions")
struct SessionEndTests {
    /// The seed's termination test. The agent exits on SIGTERM at once; the grace is long so that a
    /// busy host's slow shell is not read as an agent ignoring SIGTERM (a CI run beside the whole
    /// suite saw "killed" under the tests' usual one second).
    @Test(arguments: testedStores)
    func deleteLeavesNothingAndForgetsTheSession(store: StoreKind) async throws {
        try await withStore(store) { location in try await TestCorral(store: location, configure: { $0.graceSeconds = 15 }).run { client in
            let session = try await client.start(#"{"metadata": {"room": "r1"}}"#)
            #expect(ProcessProbe.isAlive(session.pid))
            #expect(session.pid == session.pgid)
            #expect(session.isGroupLeader)
            #expect(ProcessProbe.groupExists(session.pgid))
            #expect(session.status == "running")
            // The agent's child is in the group too.
            #expect(await ProcessProbe.waitUntil { await ProcessProbe.sessionProcesses(session.id).count == 2 })

            let end = try await client.request(.delete, "/api/sessions/\(session.id)")
            #expect(end.status == .ok)
            #expect(end.json["session_id"] as? String == session.id)
            #expect(end.json["outcome"] as? String == "terminated")
            #expect(end.json["duration_ms"] is Int)

            #expect(try await client.isGone(session.id))
            #expect(try await client.services.store.record(SessionID(session.id)!) == nil)
            #expect(await session.nothingLeft())
            #expect(try await client.request(.delete, "/api/sessions/\(session.id)").status == .notFound)
        } }
    }

    /// The seed's concurrency test.
    @Test(arguments: testedStores)
    func concurrentSessionsAreIndependent(store: StoreKind) async throws {
        try await withStore(store) { location in try await TestCorral(store: location).run { client in
            let sessions = try await withThrowingTaskGroup(of: TestCorral.Session.self) { group in
                for _ in 0..<5 { group.addTask { try await client.start() } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(Set(sessions.map(\.pid)).count == 5)
            #expect(Set(sessions.map(\.pgid)).count == 5)
            #expect(sessions.allSatisfy { $0.isGroupLeader && $0.pid == $0.pgid })
            var logs = Set<String>()
            for session in sessions {
                let record = try #require(try await client.services.store.record(SessionID(session.id)!))
                logs.insert(record.logPath)
                #expect(record.logPath.hasPrefix(client.services.dataDirectory.logsPath + "/"))
            }
            #expect(logs.count == 5)

            var remaining = sessions
            for session in sessions.shuffled() {
                #expect(try await client.request(.delete, "/api/sessions/\(session.id)").status == .ok)
                #expect(await session.nothingLeft())
                remaining.removeAll { $0.id == session.id }
                for other in remaining {
                    #expect(ProcessProbe.isAlive(other.pid), "ending \(session.id) touched \(other.id)")
                    #expect(await ProcessProbe.sessionProcesses(other.id).count == 2)
                }
            }
        } }
    }

    /// An end corral asks for tells how the leader exited, though the end can be over before the
    /// supervisor hears of the exit: the tree keeps the status its watch was told.
    @Test(arguments: testedModes)
    func everyEndTellsHowTheLeaderExited(mode: CorralConfiguration.ContainmentMode) async throws {
        try await TestCorral(containment: mode).run { client in
            let events = client.services.supervisor.events.subscribe()
            let sessions = try await withThrowingTaskGroup(of: TestCorral.Session.self) { group in
                for _ in 0..<8 { group.addTask { try await client.start() } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for session in sessions {
                    group.addTask {
                        let end = try await client.request(.delete, "/api/sessions/\(session.id)")
                        #expect(end.status == .ok)
                    }
                }
                try await group.waitForAll()
            }
            let exits = await events.ends(of: Set(sessions.map(\.id))).mapValues(\.exit)
            #expect(exits.count == sessions.count)
            // Exit 0, or SIGTERM when it came before the agent's trap was set.
            #expect(exits.values.allSatisfy { $0 == .exited(code: 0) || $0 == .signaled(signal: SIGTERM, coreDumped: false) }, "\(exits)")
            for session in sessions { #expect(await session.nothingLeft()) }
        }
    }

    /// A process forked while its session is being signalled gets SIGTERM too, and does not sit
    /// out the grace period to be killed. (With a cgroup, one read of its processes was signalled:
    /// a child forked after the read was missed at most ends of an agent forking every 5 ms.)
    @Test(arguments: testedModes)
    func aChildForkedAsTheEndBeginsIsTerminatedToo(mode: CorralConfiguration.ContainmentMode) async throws {
        var corral = TestCorral(containment: mode, configure: { $0.graceSeconds = 5 })
        corral.configuration.agents["spawner"] = AgentProfile(
            command: ["/bin/sh", "-c", "while :; do sleep 3600 & sleep 0.005; done"], environment: ["CORRAL_TEST_RUN": corral.tag]
        )
        try await corral.run { client in
            for _ in 0..<6 {
                let session = try await client.start(#"{"agent": "spawner"}"#)
                #expect(await ProcessProbe.waitUntil { await ProcessProbe.sessionProcesses(session.id).count >= 5 })
                let end = try await client.request(.delete, "/api/sessions/\(session.id)")
                #expect(end.json["outcome"] as? String == "terminated", "\(end.text)")
                #expect(await session.nothingLeft())
            }
        }
    }

    @Test(arguments: testedStores)
    func agentIgnoringSIGTERMIsKilledAfterTheGracePeriod(store: StoreKind) async throws {
        try await withStore(store) { location in try await TestCorral(store: location).run { client in
            let session = try await client.start(#"{"agent": "ignore-term"}"#)
            #expect(await ProcessProbe.waitUntil { await ProcessProbe.sessionProcesses(session.id).count >= 2 })
            let began = ContinuousClock.now
            let end = try await client.request(.delete, "/api/sessions/\(session.id)")
            let elapsed = ContinuousClock.now - began
            #expect(end.status == .ok)
            #expect(end.json["outcome"] as? String == "killed")
            #expect(elapsed >= .seconds(1), "SIGKILL came before the grace period was over")
            #expect(await session.nothingLeft())
        } }
    }

    @Test(arguments: testedStores)
    func pipelineOfThreeChildrenEndsTogether(store: StoreKind) async throws {
        try await withStore(store) { location in try await TestCorral(store: location).run { client in
            let session = try await client.start(#"{"agent": "pipeline"}"#)
            #expect(await ProcessProbe.waitUntil { await ProcessProbe.sessionProcesses(session.id).count == 4 })
            let report = try await client.request(.get, "/api/debug/session/\(session.id)/processes")
            let listed = try #require(report.json["child_processes"] as? [[String: Any]])
            #expect(listed.count == 4)
            #expect(listed.first?["pid"] as? Int == Int(session.pid))
            #expect(listed.allSatisfy { $0["pgid"] as? Int == Int(session.pgid) })
            #expect(try await client.request(.delete, "/api/sessions/\(session.id)").status == .ok)
            #expect(await session.nothingLeft())
        } }
    }

    @Test(arguments: testedStores)
    func sessionTimeoutEndsTheWholeTree(store: StoreKind) async throws {
        try await withStore(store) { location in try await TestCorral(store: location).run { client in
            let began = ContinuousClock.now
            let session = try await client.start(#"{"timeout_seconds": 2}"#)
            #expect(try await ProcessProbe.waitUntil(timeout: .seconds(60)) { try await client.isGone(session.id) })
            #expect(ContinuousClock.now - began >= .seconds(2), "ended before its timeout")
            #expect(await session.nothingLeft())
        } }
    }

    @Test func shutdownEndsEverySession() async throws {
        let sessions = try await TestCorral().run { client in
            [try await client.start(), try await client.start(#"{"agent": "ignore-term"}"#)]
        }
        // run() returned: the app has shut down, and with it every session.
        for session in sessions { #expect(await session.nothingLeft()) }
    }
}
