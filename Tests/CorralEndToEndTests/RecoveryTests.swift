import CleanSpawn
import CorralCore
import CorralPlatform
import CorralTestSupport
import Foundation
import Testing
import CorralConfiguration
import CorralStore

#if canImport(Glibc)
import Glibc
#endif

@Suite("Nothing lost when corral dies", .serialized)
struct RecoveryTests {
    /// An agent may move itself into a cgroup it made inside its session's: it is still the
    /// session's leader, and re-adopted after a crash (it was refused as "no longer in the
    /// session's cgroup", and its session killed).
    @Test(.enabled(if: CgroupSupport.available, "\(CgroupSupport.unavailableReason)"))
    func aLeaderInACgroupBelowItsSessionsIsReadopted() async throws {
        try await CrashTestBed.run(containment: .cgroup) { bed in
            var agents = bed.config["agents"] as? [String: Any] ?? [:]
            agents["nested-leader"] = ["command": [TestAgents.path("nested-leader.sh")], "env": ["CORRAL_TEST_RUN": bed.tag]]
            bed.config["agents"] = agents
            let corral = try await bed.startCorral()
            let session = try await corral.start(#"{"agent": "nested-leader", "session_id": "nested"}"#)
            #expect(await ProcessProbe.waitUntil { (ProcFS.cgroupV2(of: session.pid) ?? "").hasSuffix("/inner") })
            await bed.crash()
            let restarted = try await bed.startCorral()
            #expect(try await restarted.sessions().map(\.pid) == [session.pid], "\(restarted.log.suffix(2000))")
            #expect(ProcessProbe.isAlive(session.pid))
            #expect(try await restarted.request(.DELETE, "/api/sessions/nested").status == 200)
            #expect(!ProcessProbe.isAlive(session.pid))
        }
    }

    /// corral restarted without cgroups (its configuration changed, or a restart found none to
    /// take) takes back the sessions a corral with cgroups started, by their process groups and
    /// tags; their records were refused as naming cgroups corral could not have made, and every
    /// live call was killed as an orphan. Their cgroups are left to the next corral with cgroups.
    @Test(.enabled(if: CgroupSupport.available, "\(CgroupSupport.unavailableReason)"), arguments: [CorralConfiguration.ContainmentMode.processGroup] + (pidNamespaceCases.isEmpty ? [] : [.pidNamespace]))
    func sessionsStartedWithCgroupsAreReadoptedWithout(mode: CorralConfiguration.ContainmentMode) async throws {
        try await CrashTestBed.run(containment: .cgroup) { bed in
            let corral = try await bed.startCorral()
            let session = try await corral.start(#"{"session_id": "switched", "agent": "cooperative"}"#)
            // The agent and its child.
            #expect(await ProcessProbe.waitUntil { await bed.taggedProcesses().count == 2 })
            await bed.crash()

            bed.config["containment"] = mode.rawValue
            let restarted = try await bed.startCorral()
            #expect(try await restarted.sessions().map(\.pid) == [session.pid], "\(restarted.log.suffix(2000))")
            #expect(!restarted.log.contains("killed an orphan"), "\(restarted.log.suffix(2000))")
            let ended = try await restarted.request(.DELETE, "/api/sessions/switched")
            #expect(ended.status == 200)
            #expect(!ProcessProbe.isAlive(session.pid))
            #expect(await bed.taggedProcesses().isEmpty)
            await bed.crash()

            // The next corral with cgroups removes the session's cgroup, now empty.
            bed.config["containment"] = CorralConfiguration.ContainmentMode.cgroup.rawValue
            let third = try await bed.startCorral()
            #expect(try await third.sessions().isEmpty)
        }
    }

    /// A session whose agent exited while corral was down is cleaned up at the restart and
    /// counted among the sessions ended (it was not counted at all).
    @Test func aSessionEndedWhileCorralWasDownIsCounted() async throws {
        try await CrashTestBed.run(containment: .processGroup) { bed in
            let corral = try await bed.startCorral()
            _ = try await corral.start(#"{"session_id": "gone", "agent": "cooperative"}"#)
            #expect(await ProcessProbe.waitUntil { await bed.taggedProcesses().count == 2 })
            await bed.crash()
            #expect(await ProcessProbe.killAndWait(await bed.taggedProcesses()))

            let restarted = try await bed.startCorral()
            #expect(try await restarted.sessions().isEmpty)
            let metrics = try await restarted.request(.GET, "/metrics").text
            let ended = metrics.split(separator: "\n").filter { $0.hasPrefix("corral_sessions_ended_total{") }
            #expect(ended.contains { $0.contains(#"agent="cooperative""#) && $0.contains(#"reason="exited""#) && $0.hasSuffix(" 1") }, "\(ended)")
        }
    }

    @Test(arguments: testedModes.filter { $0 != .cgroupAttach })
    func liveSessionsAreReadoptedAfterSIGKILL(mode: CorralConfiguration.ContainmentMode) async throws {
        try await CrashTestBed.run(containment: mode) { bed in
            let corral = try await bed.startCorral()
            var started: [[String: Any]] = []
            let short = ["s0", "s1", "s2"]
            let shortTimeout = 15
            var firstShortStart = ContinuousClock.now
            for index in (0..<10).reversed() {
                let agent = index % 2 == 0 ? "cooperative" : "setsid-child"
                // Three of them (started last) expire soon: their timers must survive the crash.
                let timeout = index < 3 ? shortTimeout : 600
                if index == 2 { firstShortStart = .now }
                started.append(try await corral.start(#"{"session_id": "s\#(index)", "agent": "\#(agent)", "timeout_seconds": \#(timeout)}"#))
            }
            let pids = Dictionary(uniqueKeysWithValues: started.map { ($0.sessionID, $0.pid) })

            await bed.crash()
            for pid in pids.values { #expect(ProcessProbe.isAlive(pid), "agent \(pid) died with corral") }

            let restarted = try await bed.startCorral()
            let listed = Dictionary(uniqueKeysWithValues: try await restarted.sessions().map { ($0.sessionID, $0.pid) })
            // Every session is back with its pid; on a host slow enough that the crash and the
            // restart outlasted the short ones' timeout, those may have been ended already, by
            // their restored deadline.
            let expired = ContinuousClock.now - firstShortStart >= .seconds(shortTimeout)
            #expect(listed == (expired ? pids.filter { listed[$0.key] != nil || !short.contains($0.key) } : pids), "\(listed) against \(pids)")

            // Restored timers end the short sessions, tree and all.
            #expect(try await ProcessProbe.waitUntil(timeout: .seconds(30)) { try await restarted.sessions().count == 7 })
            let tagged = await bed.taggedProcesses()
            for id in ["s0", "s1", "s2"] {
                #expect(await ProcessProbe.sessionProcesses(id).filter { tagged.contains($0) }.isEmpty)
            }
            // The others can be ended like any session.
            for id in (3..<10).map({ "s\($0)" }) {
                let reply = try await restarted.request(.DELETE, "/api/sessions/\(id)")
                #expect(reply.status == 200, "\(reply.text)")
            }
            #expect(await bed.taggedProcesses().isEmpty)
            #expect(try await restarted.sessions().isEmpty)
        }
    }

    @Test(arguments: testedModes.filter { $0 != .cgroupAttach })
    func crashWhileStartingLeavesNoOrphan(mode: CorralConfiguration.ContainmentMode) async throws {
        try await CrashTestBed.run(containment: mode) { bed in
            try await bed.startCorral()
            let instance = try #require(bed.instanceID)
            await bed.crash()

            // What a crash between spawn and record leaves: a record without a pid, and a process
            // carrying the session's id and this corral's instance (in its own kernel session, as
            // agents are).
            let store = try SQLiteStore(path: bed.dataDirectory + "/corral.db")
            let now = Date()
            try await store.insert(SessionRecord(id: SessionID("half-started")!, agent: "sleeper", createdAt: now, expiresAt: now + 600, logPath: ""))
            let orphan = try spawnTagged(
                ["CORRAL_INSTANCE_ID=\(instance)", "CORRAL_SESSION_ID=half-started", "CORRAL_TEST_RUN=\(bed.tag)"]
            )
            // A process of another corral instance with the same session id is not ours to touch.
            let stranger = try spawnTagged(["CORRAL_INSTANCE_ID=someone-else", "CORRAL_SESSION_ID=half-started", "CORRAL_TEST_RUN=\(bed.tag)"])
            #expect(ProcessProbe.isAlive(orphan))

            let corral = try await bed.startCorral()
            #expect(await ProcessProbe.waitUntil { !ProcessProbe.isAlive(orphan) }, "the orphan survived re-adoption")
            #expect(ProcessProbe.isAlive(stranger), "another corral's process was killed")
            #expect(try await corral.sessions().isEmpty)
            #expect(try await store.record(SessionID("half-started")!) == nil)
            #expect(await ProcessProbe.killAndWait([stranger]))
        }
    }

    @Test(arguments: testedModes.filter { $0 != .cgroupAttach })
    func crashWhileEndingFinishesTheEnd(mode: CorralConfiguration.ContainmentMode) async throws {
        try await CrashTestBed.run(containment: mode, extra: ["grace_seconds": 30]) { bed in
            let corral = try await bed.startCorral()
            let session = try await corral.start(#"{"agent": "ignore-term"}"#)
            let id = session.sessionID
            // `ready: exec`: running before the script has set its trap; a SIGTERM sooner ends it.
            #expect(try await ProcessProbe.waitUntil(timeout: .seconds(30)) {
                try await corral.request(.GET, "/api/sessions/\(id)/logs?tail=5").text.contains("stubborn agent")
            })
            // The DELETE waits out the long grace period; corral dies meanwhile.
            let deletion = Task { _ = try? await corral.request(.DELETE, "/api/sessions/\(id)") }
            // The end is under way for a restarted corral once the store says so: a crash before
            // that write lands leaves a record that says `running` (and a DELETE that was never
            // answered), which the restarted corral rightly keeps running.
            let store = try SQLiteStore(path: bed.dataDirectory + "/corral.db")
            #expect(try await ProcessProbe.waitUntil {
                try await store.record(SessionID(id)!)?.status == .stopping
            })
            await bed.crash()
            await deletion.value
            #expect(ProcessProbe.isAlive(session.pid))

            var restartConfig = bed.config
            restartConfig["grace_seconds"] = 1
            bed.config = restartConfig
            let restarted = try await bed.startCorral()
            #expect(try await ProcessProbe.waitUntil(timeout: .seconds(60)) { try await restarted.sessions().isEmpty }, "\(restarted.log.suffix(3000))")
            #expect(await ProcessProbe.waitUntil { await bed.taggedProcesses().isEmpty })
        }
    }

    /// Process groups: a process that left the group with an empty environment is known by
    /// ancestry while its parent lives; that parent dies while corral is down, and only what
    /// corral saw of the process (its pid and start time, in the record) is left to find it by.
    /// The restarted corral lists it and ends it with the session.
    @Test func escapeeSeenBeforeACrashIsEndedAfterIt() async throws {
        try await CrashTestBed.run(containment: .processGroup, extra: ["watch_interval_seconds": 0.2]) { bed in
            let corral = try await bed.startCorral()
            let session = try await corral.start(#"{"agent": "sighted-escape", "session_id": "sighted"}"#)
            let (escapee, parent) = try await Self.escapeeAndParent(of: "sighted", in: corral)
            let escapeeStart = try #require(ProcFS.stat(escapee)?.startTime)
            // It carries nothing of the session's: only the bed's clean-up by pid can find it.
            defer { if ProcessProbe.isAlive(escapee, startTime: escapeeStart) { Glibc.kill(escapee, SIGKILL) } }
            let store = try SQLiteStore(path: bed.dataDirectory + "/corral.db")
            #expect(try await ProcessProbe.waitUntil(timeout: .seconds(30)) {
                try await store.record(SessionID("sighted")!)?.sightings.contains(ProcessSighting(pid: escapee, startTime: escapeeStart)) == true
            }, "the sighting is recorded")

            await bed.crash()
            #expect(await ProcessProbe.killAndWait([parent]))
            #expect(ProcessProbe.isAlive(escapee, startTime: escapeeStart))
            #expect(ProcFS.stat(escapee)?.ppid != session.pid, "nothing but the sighting leads to it")

            let restarted = try await bed.startCorral()
            #expect(try await restarted.sessions().map(\.pid) == [session.pid])
            let report = try await restarted.request(.GET, "/api/debug/session/sighted/processes").json
            let listed = (report["child_processes"] as? [[String: Any]] ?? []).compactMap { ($0["pid"] as? NSNumber)?.int32Value }
            #expect(listed.contains(escapee), "\(report) \(restarted.log.suffix(3000))")
            #expect(try await restarted.request(.DELETE, "/api/sessions/sighted").status == 200)
            #expect(!ProcessProbe.isAlive(escapee, startTime: escapeeStart), "\(restarted.log.suffix(2000))")
        }
    }

    /// A session started with cgroups, taken back without them: a process that left its group
    /// with an empty environment and lost its parent while corral was down is still in the old
    /// cgroup, read from there (or from a cgroup made below it), and ended with the session
    /// (nothing else led to it).
    @Test(.enabled(if: CgroupSupport.available, "\(CgroupSupport.unavailableReason)"), arguments: [false, true])
    func anEscapeeInTheOldCgroupIsEndedWithoutCgroups(nested: Bool) async throws {
        try await CrashTestBed.run(containment: .cgroup) { bed in
            let corral = try await bed.startCorral()
            let session = try await corral.start(#"{"agent": "sighted-escape", "session_id": "switched-escape"}"#)
            let (escapee, parent) = try await Self.escapeeAndParent(of: "switched-escape", in: corral)
            let escapeeStart = try #require(ProcFS.stat(escapee)?.startTime)
            defer { if ProcessProbe.isAlive(escapee, startTime: escapeeStart) { Glibc.kill(escapee, SIGKILL) } }
            if nested {
                // What an agent running as root may do inside its session's cgroup.
                let inner = try #require(CgroupHost.discover().v2Mount) + (try #require(ProcFS.cgroupV2(of: escapee))) + "/inner"
                #expect(mkdir(inner, 0o755) == 0)
                try "\(escapee)".write(toFile: inner + "/cgroup.procs", atomically: false, encoding: .utf8)
            }

            await bed.crash()
            #expect(await ProcessProbe.killAndWait([parent]))
            bed.config["containment"] = CorralConfiguration.ContainmentMode.processGroup.rawValue
            let restarted = try await bed.startCorral()
            #expect(try await restarted.sessions().map(\.pid) == [session.pid], "\(restarted.log.suffix(2000))")
            #expect(try await restarted.request(.DELETE, "/api/sessions/switched-escape").status == 200)
            #expect(!ProcessProbe.isAlive(escapee, startTime: escapeeStart), "\(restarted.log.suffix(2000))")
            await bed.crash()

            // The next corral with cgroups removes the session's cgroup, now empty.
            bed.config["containment"] = CorralConfiguration.ContainmentMode.cgroup.rawValue
            try await bed.startCorral()
        }
    }

    /// corral crashes while an agent loads: the agent's `READY=1` reaches no one, and the Python
    /// client says it again until the restarted corral hears it. The session runs; it is not
    /// ended at its startup timeout.
    @Test func readinessSaidWhileCorralIsDownIsHeardAfterIt() async throws {
        try await CrashTestBed.run(containment: testedModes.first!, extra: ["startup_timeout_seconds": 300]) { bed in
            var agents = bed.config["agents"] as? [String: Any] ?? [:]
            agents["loads"] = ["command": [TestAgents.path("ready-after-delay.py")], "env": ["CORRAL_TEST_RUN": bed.tag], "ready": "notify"]
            bed.config["agents"] = agents
            let corral = try await bed.startCorral()
            let readyFile = bed.directory + "/loaded"
            let session = try await corral.start(
                #"{"agent": "loads", "session_id": "loading", "metadata": {"ready_file": "\#(readyFile)", "client": "yes"}}"#)
            #expect(session["status"] as? String == "starting")
            await bed.crash()
            #expect(FileManager.default.createFile(atPath: readyFile, contents: nil))
            let log = bed.dataDirectory + "/logs/loading.log"
            #expect(await ProcessProbe.waitUntil { ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").contains("ready heard: False") })

            let restarted = try await bed.startCorral()
            #expect(try await ProcessProbe.waitUntil(timeout: .seconds(60)) {
                try await restarted.request(.GET, "/api/sessions/loading").json["status"] as? String == "running"
            }, "\(restarted.log.suffix(2000))")
            #expect(ProcessProbe.isAlive(session.pid))
        }
    }

    /// The pids the `sighted-escape` agent prints: its escapee's and the escapee's parent's.
    static func escapeeAndParent(of session: String, in corral: CorralProcess) async throws -> (escapee: Int32, parent: Int32) {
        var pids: [String: Int32] = [:]
        #expect(try await ProcessProbe.waitUntil(timeout: .seconds(30)) {
            let log = try await corral.request(.GET, "/api/sessions/\(session)/logs?tail=20").text
            for line in log.split(separator: "\n") {
                let words = line.split(separator: " ")
                if words.count == 2, ["escapee", "parent"].contains(words[0]), let pid = Int32(words[1]) { pids[String(words[0])] = pid }
            }
            return pids.count == 2
        })
        return (try #require(pids["escapee"]), try #require(pids["parent"]))
    }

    @Test func recycledPIDIsNeverSignalled() async throws {
        try await CrashTestBed.run(containment: .processGroup, extra: ["sweep_interval_seconds": 0.5]) { bed in
            try await bed.startCorral()
            await bed.crash()

            // An unrelated process now holds the pid a record names; the record's start time is
            // that of the process that had the pid before.
            let unrelated = try spawnTagged(["CORRAL_TEST_RUN=\(bed.tag)"], newSession: true)
            let startTime = try #require(ProcFS.stat(unrelated)?.startTime)
            let store = try SQLiteStore(path: bed.dataDirectory + "/corral.db")
            let now = Date()
            let record = SessionRecord(
                id: SessionID("recycled")!, agent: "sleeper", status: .running, pid: unrelated, pgid: unrelated,
                isGroupLeader: true, leaderStartTime: startTime - 1, createdAt: now, expiresAt: now + 600,
                logPath: bed.dataDirectory + "/logs/recycled.log"
            )
            try await store.insert(record)

            let corral = try await bed.startCorral()
            #expect(try await corral.sessions().isEmpty)
            #expect(try await store.record(record.id) == nil)
            #expect(corral.log.contains("now belongs to another process"))
            // Several sweeps later it is still alive.
            let sweepsDone = ContinuousClock.now + .seconds(2)
            try await Task.sleep(until: sweepsDone)
            #expect(ProcessProbe.isAlive(unrelated, startTime: startTime))
            #expect(await ProcessProbe.killAndWait([unrelated]))
        }
    }
}

/// Starts `sleep 1000` with exactly this environment, as a child of the test; with
/// `newSession` (or by default) in a kernel session of its own, as agents are, so the test
/// process's reaper collects it once it dies.
func spawnTagged(_ environment: [String], newSession: Bool = true) throws -> Int32 {
    let variables = Dictionary(environment.map { entry in
        let parts = entry.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
        return (String(parts[0]), parts.count > 1 ? String(parts[1]) : "")
    }) { _, last in last }
    return try spawnChild(["/bin/sleep", "1000"], environment: variables, newSession: newSession)
}
