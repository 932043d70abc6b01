import CorralCore
import CorralPlatform
import CorralTestSupport
import Foundation
import Testing
import CorralStore

@Suite("Stopping corral: terminate, drain, detach", .serialized)
struct ShutdownTests {
    @Test func terminateEndsEverySessionAndExits() async throws {
        try await CrashTestBed.run(containment: testedModes.first!) { bed in
            let corral = try await bed.startCorral()
            let sessions = [try await corral.start(#"{"agent": "cooperative"}"#), try await corral.start(#"{"agent": "ignore-term"}"#)]
            #expect(await corral.terminate() == 0)
            bed.corral = nil
            for session in sessions { #expect(!ProcessProbe.isAlive(session.pid)) }
            #expect(await bed.taggedProcesses().isEmpty)
            #expect(try await SQLiteStore(path: bed.dataDirectory + "/corral.db").allRecords().isEmpty)
        }
    }

    /// An operator reading the log sees the stop begin and end, with no session to end too.
    @Test func theStopIsLoggedWithoutSessions() async throws {
        try await CrashTestBed.run(containment: testedModes.first!) { bed in
            let corral = try await bed.startCorral()
            #expect(await corral.terminate() == 0)
            bed.corral = nil
            #expect(corral.log.contains("corral stopping"), "\(corral.log.suffix(2000))")
            #expect(corral.log.contains("corral stopped"), "\(corral.log.suffix(2000))")
        }
    }

    @Test func drainRefusesNewSessionsAndWaitsForTheRest() async throws {
        try await CrashTestBed.run(containment: testedModes.first!, extra: ["shutdown": "drain", "drain_timeout_seconds": 10]) { bed in
            // 10 s: the requests below must come before the drain ends, even on a busy host.
            let corral = try await bed.startCorral()
            let leaving = try await corral.start(#"{"agent": "cooperative"}"#)
            let staying = try await corral.start(#"{"agent": "sleeper"}"#)
            let began = ContinuousClock.now
            kill(corral.pid, SIGTERM)
            #expect(await ProcessProbe.waitUntil {
                (try? await corral.request(.POST, "/api/sessions", body: "{}", timeout: .seconds(2)))?.status == 503
            })
            // While draining, the API still answers, and a session may be ended.
            #expect(try await corral.request(.DELETE, "/api/sessions/\(leaving.sessionID)").status == 200)
            #expect(try await corral.request(.GET, "/api/sessions/\(staying.sessionID)").status == 200)
            #expect(await corral.waitForExit(timeout: .seconds(40)) == 0)
            bed.corral = nil
            #expect(ContinuousClock.now - began >= .seconds(10), "drain_timeout_seconds was not waited out")
            #expect(!ProcessProbe.isAlive(staying.pid))
            #expect(await bed.taggedProcesses().isEmpty)
        }
    }

    @Test func detachLeavesSessionsForTheNextCorral() async throws {
        try await CrashTestBed.run(containment: testedModes.first!, extra: ["shutdown": "detach"]) { bed in
            let corral = try await bed.startCorral()
            var pids: [String: Int32] = [:]
            for agent in ["cooperative", "setsid-child", "sleeper"] {
                let session = try await corral.start(#"{"agent": "\#(agent)"}"#)
                pids[session.sessionID] = session.pid
            }
            #expect(await corral.terminate() == 0)
            for pid in pids.values { #expect(ProcessProbe.isAlive(pid)) }
            #expect(try await SQLiteStore(path: bed.dataDirectory + "/corral.db").allRecords().count == 3)

            var config = bed.config
            config["shutdown"] = "terminate"
            bed.config = config
            let next = try await bed.startCorral()
            let listed = try await next.sessions()
            #expect(Dictionary(uniqueKeysWithValues: listed.map { ($0.sessionID, $0.pid) }) == pids)
            // finish() stops it with `terminate`: everything adopted is ended.
        }
    }
}

/// What the churn test knows about sessions while corral keeps dying under it.
private actor ChurnLedger {
    var corral: CorralProcess
    /// 201 received, no 200 to a DELETE yet: these must never be lost.
    var acknowledged: Set<String> = []
    /// A request whose answer was lost in a crash: the session may or may not exist.
    var uncertain: Set<String> = []
    var started = 0
    var generator: SplitMix

    init(corral: CorralProcess, seed: UInt64) {
        self.corral = corral
        self.generator = SplitMix(seed: seed)
    }

    func replace(_ corral: CorralProcess) { self.corral = corral }

    /// The next operation: a start (with its id) or an end of a random acknowledged session.
    func next(total: Int, alive target: Int) -> (CorralProcess, start: String?, end: String?)? {
        if started >= total { return nil }
        if acknowledged.count < target || generator.next() % 2 == 0 {
            started += 1
            return (corral, "churn-\(started)", nil)
        }
        let victim = acknowledged.sorted()[Int(generator.next() % UInt64(acknowledged.count))]
        acknowledged.remove(victim)
        return (corral, nil, victim)
    }

    func record(start id: String, status: Int?) {
        switch status {
        case 201?: acknowledged.insert(id)
        case nil: uncertain.insert(id)
        default: break
        }
    }

    func record(end id: String, status: Int?) {
        if status == nil { uncertain.insert(id) }
    }

    func random(_ range: ClosedRange<Int>) -> Int { range.lowerBound + Int(generator.next() % UInt64(range.count)) }
}

@Suite("Chaos", .serialized)
struct ChurnTests {
    /// 300 starts and as many ends, a few dozen sessions alive at a time, corral SIGKILLed at 10
    /// random moments and restarted each time. Afterwards: every listed session is alive, every
    /// acknowledged session is listed, nothing of any other session is running.
    @Test(.timeLimit(.minutes(10)))
    func churnSurvivesTenCrashes() async throws {
        let seed = UInt64.random(in: 0...UInt64.max)
        print("churn seed: \(seed)")
        try await CrashTestBed.run(containment: testedModes.first!) { bed in
            let ledger = ChurnLedger(corral: try await bed.startCorral(), seed: seed)

            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<4 {
                    group.addTask {
                        while let (corral, start, end) = await ledger.next(total: 300, alive: 30) {
                            if let id = start {
                                let reply = try? await corral.request(
                                    .POST, "/api/sessions", body: #"{"session_id": "\#(id)", "agent": "sleeper"}"#, timeout: .seconds(5))
                                await ledger.record(start: id, status: reply?.status)
                            } else if let id = end {
                                let reply = try? await corral.request(.DELETE, "/api/sessions/\(id)", timeout: .seconds(5))
                                #expect(reply == nil || reply?.status == 200, "DELETE \(id) of an acknowledged session: \(reply?.text ?? "")")
                                await ledger.record(end: id, status: reply?.status)
                            }
                            if start == nil && end == nil { break }
                        }
                    }
                }
                group.addTask {
                    for _ in 0..<10 {
                        try await Task.sleep(for: .milliseconds(await ledger.random(200...1200)))
                        await bed.crash()
                        try await Task.sleep(for: .milliseconds(await ledger.random(0...200)))
                        await ledger.replace(try await bed.startCorral())
                    }
                }
                try await group.waitForAll()
            }

            let corral = await ledger.corral
            let listed = try await corral.sessions()
            let listedIDs = Set(listed.map(\.sessionID))
            let acknowledged = await ledger.acknowledged
            let uncertain = await ledger.uncertain
            #expect(acknowledged.isSubset(of: listedIDs), "sessions lost: \(acknowledged.subtracting(listedIDs).sorted())")
            #expect(listedIDs.isSubset(of: acknowledged.union(uncertain)), "sessions nobody asked for: \(listedIDs.subtracting(acknowledged.union(uncertain)))")
            for session in listed {
                #expect(ProcessProbe.isAlive(session.pid), "\(session.sessionID) is listed but its agent is gone")
            }
            // Nothing of a session that is not listed is running.
            #expect(await ProcessProbe.waitUntil {
                await bed.taggedProcesses().allSatisfy { pid in
                    ProcFS.environmentValue(pid, "CORRAL_SESSION_ID").map(listedIDs.contains) ?? false
                }
            })
            let store = try await SQLiteStore(path: bed.dataDirectory + "/corral.db").allRecords()
            #expect(Set(store.map(\.id.rawValue)) == listedIDs)
        }
    }
}
