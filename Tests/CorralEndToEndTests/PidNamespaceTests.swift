import CorralCore
import CorralPlatform
import CorralTestSupport
import Foundation
import Testing
import CorralConfiguration

#if canImport(Glibc)
import Glibc
#endif

/// The two ways pid-namespace containment makes its namespaces, both forced here: a pid
/// namespace alone (this host's corral is root, with CAP_SYS_ADMIN) and one inside a user
/// namespace, as in an unprivileged container. A way this host cannot give is printed and left out.
let pidNamespaceCases: [UserNamespaceMode] = [.never, .always].filter { mode in
    do throws(CorralError) {
        _ = try PidNamespaceSupport.probe(mode)
        return true
    } catch {
        print("note: pid-namespace containment with user_namespace \(mode.rawValue) is not tested: \(error)")
        return false
    }
}

/// The escaping agents and the one that leaves no trace at all.
let pidNamespaceAgents = (Array(TestAgents.escapers.keys) + Array(TestAgents.traceless.keys)).sorted()

@Suite("Containment by pid namespace: nothing of a session outlives its init", .serialized)
struct PidNamespaceTests {
    static func corral(_ userNamespace: UserNamespaceMode, configure: (inout CorralConfiguration) -> Void = { _ in }) -> TestCorral {
        TestCorral(containment: .pidNamespace) { configuration in
            configuration.userNamespace = userNamespace
            configure(&configuration)
        }
    }

    /// Nothing carries the session's id, its init's group is gone, and no traceless orphan of it
    /// runs.
    static func expectNothingLeft(_ session: TestCorral.Session, sourceLocation: SourceLocation = #_sourceLocation) async {
        #expect(await ProcessProbe.sessionProcesses(session.id).isEmpty, "processes of \(session.id) left", sourceLocation: sourceLocation)
        #expect(!ProcessProbe.groupExists(session.pgid), sourceLocation: sourceLocation)
        let orphans = await ProcessProbe.processes(withArgument: TestAgents.orphanName(session: session.id))
        ProcessProbe.kill(orphans)
        #expect(orphans.isEmpty, "the traceless orphan of \(session.id) is left: \(orphans)", sourceLocation: sourceLocation)
    }

    /// Waits until the agent has started what it starts (the orphan included, for the agent that
    /// makes one).
    static func waitUntilSettled(_ session: TestCorral.Session, agent: String) async -> Bool {
        await ProcessProbe.waitUntil(timeout: .seconds(60)) {
            let settled = await ProcessProbe.sessionProcesses(session.id).count >= (ContainmentTests.settled[agent] ?? 2)
            guard settled, agent == "orphan-setsid" else { return settled }
            return await !ProcessProbe.processes(withArgument: TestAgents.orphanName(session: session.id)).isEmpty
        }
    }

    @Test(arguments: pidNamespaceCases, pidNamespaceAgents)
    func deleteEndsEveryProcess(userNamespace: UserNamespaceMode, agent: String) async throws {
        try await Self.corral(userNamespace).run { client in
            let session = try await client.start(#"{"agent": "\#(agent)"}"#)
            #expect(session.containment == "pid-namespace")
            #expect(await Self.waitUntilSettled(session, agent: agent))
            #expect(try await client.request(.delete, "/api/sessions/\(session.id)").status == .ok)
            await Self.expectNothingLeft(session)
        }
    }

    @Test(arguments: pidNamespaceCases, pidNamespaceAgents)
    func timeoutEndsEveryProcess(userNamespace: UserNamespaceMode, agent: String) async throws {
        try await Self.corral(userNamespace).run { client in
            let session = try await client.start(#"{"agent": "\#(agent)", "timeout_seconds": 1}"#)
            #expect(try await ProcessProbe.waitUntil { try await client.isGone(session.id) })
            await Self.expectNothingLeft(session)
        }
    }

    /// The agent exits by itself: its init gives the rest SIGTERM and the grace period, then
    /// exits, and the kernel kills what did not go.
    @Test(arguments: pidNamespaceCases, pidNamespaceAgents)
    func agentExitEndsEveryProcess(userNamespace: UserNamespaceMode, agent: String) async throws {
        try await Self.corral(userNamespace).run { client in
            let session = try await client.start(#"{"agent": "\#(agent)-exits"}"#)
            #expect(try await ProcessProbe.waitUntil { try await client.isGone(session.id) })
            await Self.expectNothingLeft(session)
        }
    }

    /// The session's pid and pgid are its init's, as corral sees them; the inspection lists every
    /// process of the namespace with the pids corral sees, the init first and the agent, leader of
    /// a session and group of its own, below it.
    @Test(arguments: pidNamespaceCases)
    func inspectionListsTheWholeNamespace(userNamespace: UserNamespaceMode) async throws {
        try await Self.corral(userNamespace).run { client in
            let session = try await client.start(#"{"agent": "setsid-child"}"#)
            #expect(session.isGroupLeader && session.pid == session.pgid)
            #expect(ProcFS.namespacePIDs(session.pid) == [session.pid, 1], "the session's pid is its namespace's init")
            #expect(await ProcessProbe.waitUntil { await ProcessProbe.sessionProcesses(session.id).count == 4 })
            var json: [String: Any] = [:]
            // The same processes as the host shows carrying the session's id (polled: a busy host
            // may still be starting one of them between the two reads).
            #expect(try await ProcessProbe.waitUntil(timeout: .seconds(30)) {
                json = try await client.request(.get, "/api/debug/session/\(session.id)/processes").json
                let listed = (json["child_processes"] as? [[String: Any]] ?? []).compactMap { $0["pid"] as? Int }.map(Int32.init)
                return Set(listed) == Set(await ProcessProbe.sessionProcesses(session.id))
            })
            #expect(json["is_process_alive"] as? Bool == true)
            #expect(json["is_group_alive"] as? Bool == true)
            #expect(json["is_group_leader"] as? Bool == true)
            let processes = try #require(json["child_processes"] as? [[String: Any]])
            #expect(processes.first?["pid"] as? Int == Int(session.pid))
            // The agent: the init's child, pid 2 inside, leading its own group.
            let agent = try #require(processes.first { ($0["ppid"] as? Int) == Int(session.pid) && ($0["cmd"] as? String)?.contains("setsid-child") == true })
            let agentPID = Int32(agent["pid"] as? Int ?? 0)
            #expect(agent["pgid"] as? Int == Int(agentPID))
            #expect(ProcFS.namespacePIDs(agentPID) == [agentPID, 2])
            #expect(ProcFS.stat(agentPID)?.sid == agentPID)
            #expect(try await client.request(.delete, "/api/sessions/\(session.id)").status == .ok)
            await Self.expectNothingLeft(session)
        }
    }

    /// `READY=1` comes from inside the namespaces with the agent's pid as corral sees it, and is
    /// taken; an agent that never sends it is ended at the startup timeout.
    @Test(arguments: pidNamespaceCases)
    func readinessAndStartupTimeout(userNamespace: UserNamespaceMode) async throws {
        try await Self.corral(userNamespace, configure: { $0.startupTimeoutSeconds = 8 }).run { client in
            let ready = try await client.start(#"{"agent": "ready-after-delay"}"#)
            #expect(try await ProcessProbe.waitUntil {
                try await client.request(.get, "/api/sessions/\(ready.id)").json["status"] as? String == "running"
            })
            let never = try await client.start(#"{"agent": "never-ready"}"#)
            #expect(never.status == "starting")
            #expect(try await ProcessProbe.waitUntil(timeout: .seconds(30)) { try await client.isGone(never.id) })
            #expect(try await client.endedCount(agent: "never-ready", reason: "startup_timeout") == 1)
            await Self.expectNothingLeft(never)
            #expect(try await client.request(.delete, "/api/sessions/\(ready.id)").status == .ok)
            await Self.expectNothingLeft(ready)
        }
    }

    /// The init exits with the agent's status, which the session's end reports.
    @Test(arguments: pidNamespaceCases)
    func agentExitStatusIsReported(userNamespace: UserNamespaceMode) async throws {
        try await Self.corral(userNamespace).run { client in
            let events = client.services.supervisor.events.subscribe()
            let session = try await client.start(#"{"agent": "crash"}"#)
            #expect(try await ProcessProbe.waitUntil { try await client.isGone(session.id) })
            let ended = await events.ends(of: [session.id])[session.id]
            #expect(ended?.exit == .exited(code: 3))
            #expect(ended?.reason.name == "exited")
            await Self.expectNothingLeft(session)
        }
    }

    /// A program that fails its execve inside the namespace is reported as with any spawn, and
    /// its init does not stay behind.
    @Test(arguments: pidNamespaceCases)
    func agentThatCannotExecuteIsAClearError(userNamespace: UserNamespaceMode) async throws {
        let program = NSTemporaryDirectory() + "corral-not-a-program-\(UUID().uuidString)"
        #expect(FileManager.default.createFile(atPath: program, contents: Data("\u{7f}ELF?".utf8), attributes: [.posixPermissions: 0o755]))
        defer { try? FileManager.default.removeItem(atPath: program) }
        try await Self.corral(userNamespace, configure: { $0.agents["broken"] = AgentProfile(command: [program], environment: ["CORRAL_TEST_RUN": "broken"]) }).run { client in
            let reply = try await client.request(.post, "/api/sessions", body: #"{"agent": "broken", "session_id": "b1"}"#)
            #expect(reply.status == .internalServerError)
            #expect((reply.json["error"] as? String)?.contains("could not execute \(program)") == true, "\(reply.text)")
            #expect(try await client.isGone("b1"))
            #expect(await ProcessProbe.sessionProcesses("b1").isEmpty)
        }
    }

    /// Ids map to themselves: an agent of a profile's `user` runs as that uid as the host sees
    /// it, inside a user namespace of its own (with `always`) or corral's (with `never`).
    @Test(arguments: pidNamespaceCases)
    func uidsMapToThemselves(userNamespace: UserNamespaceMode) async throws {
        try await Self.corral(userNamespace, configure: { configuration in
            var profile = AgentProfile(command: ["sleep", "1000"], environment: ["CORRAL_TEST_RUN": "nobody"])
            profile.user = AgentUser(uid: 65534, gid: 65534, groups: [])
            configuration.agents["nobody"] = profile
        }).run { client in
            let session = try await client.start(#"{"agent": "nobody"}"#)
            var agent: Int32?
            #expect(await ProcessProbe.waitUntil {
                agent = await ProcessProbe.sessionProcesses(session.id).first { $0 != session.pid }
                return agent != nil
            })
            let pid = try #require(agent)
            let status = String(decoding: ProcFS.readFile("/proc/\(pid)/status", limit: 16 * 1024) ?? [], as: UTF8.self)
            #expect(status.contains("Uid:\t65534\t65534\t65534\t65534"), "\(status)")
            let ownUserNamespace = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/user")
            let agentUserNamespace = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/ns/user")
            #expect((agentUserNamespace != ownUserNamespace) == (userNamespace == .always))
            if userNamespace == .always {
                let map = String(decoding: ProcFS.readFile("/proc/\(pid)/uid_map", limit: 4096) ?? [], as: UTF8.self)
                #expect(map.split(whereSeparator: \.isWhitespace) == ["0", "0", "4294967295"], "\(map)")
            }
            #expect(try await client.request(.delete, "/api/sessions/\(session.id)").status == .ok)
            await Self.expectNothingLeft(session)
        }
    }

    /// A prewarmed agent waits in its namespace, says READY=1 from inside, takes a session
    /// through its assignment channel (passed through the init), and is ended whole with it.
    @Test(arguments: pidNamespaceCases)
    func prewarmedAgentTakesASession(userNamespace: UserNamespaceMode) async throws {
        let corral = Self.corral(userNamespace) { configuration in
            configuration.agents["voice"] = PrewarmTests.profile(configuration, prewarm: 1)
            configuration.startupTimeoutSeconds = 20
        }
        try await corral.run { client in
            #expect(try await ProcessProbe.waitUntil(timeout: .seconds(90)) { try await PrewarmTests.readyIdle(client, agent: "voice").count == 1 })
            let idle = try await PrewarmTests.readyIdle(client, agent: "voice")
            let idlePID = Int32(idle.first?["pid"] as? Int ?? 0)
            let reply = try await client.request(.post, "/api/sessions", body: #"{"agent": "voice", "session_id": "warm-1"}"#)
            try #require(reply.status == .created, "\(reply.text)")
            #expect(reply.json["start"] as? String == "warm")
            #expect(reply.json["status"] as? String == "running")
            #expect(reply.json["pid"] as? Int == Int(idlePID))
            #expect(ProcFS.isSessionNamespaceInit(idlePID))
            #expect(try await client.request(.delete, "/api/sessions/warm-1").status == .ok)
            #expect(!ProcessProbe.isAlive(idlePID))
            #expect(!ProcessProbe.groupExists(idlePID))
        }
    }

    /// corral killed and started again takes the session back through its init (pid, start
    /// time, the namespace's first process, the tags in its environment), and ends all of it.
    @Test(arguments: pidNamespaceCases)
    func crashedCorralReadoptsThroughTheInit(userNamespace: UserNamespaceMode) async throws {
        try await CrashTestBed.run(containment: .pidNamespace, extra: ["user_namespace": userNamespace.rawValue]) { bed in
            let corral = try await bed.startCorral()
            let session = try await corral.start(#"{"agent": "setsid-child"}"#)
            #expect(await ProcessProbe.waitUntil { await ProcessProbe.sessionProcesses(session.sessionID).count == 4 })
            await bed.crash()
            #expect(ProcessProbe.isAlive(session.pid))
            let next = try await bed.startCorral()
            let listed = try await next.sessions()
            #expect(listed.map(\.sessionID) == [session.sessionID])
            #expect(listed.first?.pid == session.pid)
            #expect(try await next.request(.DELETE, "/api/sessions/\(session.sessionID)").status == 200)
            #expect(await ProcessProbe.sessionProcesses(session.sessionID).isEmpty)
            #expect(!ProcessProbe.isAlive(session.pid))
        }
    }
}

@Suite("The traceless orphan against the cgroup modes", .serialized)
struct TracelessOrphanTests {
    /// What process groups cannot hold (their tracking loses a setsid() orphan without an
    /// environment), a cgroup holds.
    @Test(
        .enabled(if: CgroupSupport.available, "\(CgroupSupport.unavailableReason)"),
        arguments: testedModes.filter { $0 != .processGroup }
    )
    func cgroupEndsTheOrphan(mode: CorralConfiguration.ContainmentMode) async throws {
        try await TestCorral(containment: mode).run { client in
            let session = try await client.start(#"{"agent": "orphan-setsid"}"#)
            #expect(await PidNamespaceTests.waitUntilSettled(session, agent: "orphan-setsid"))
            #expect(try await client.request(.delete, "/api/sessions/\(session.id)").status == .ok)
            await PidNamespaceTests.expectNothingLeft(session)
        }
    }
}
