import CorralCore
import CorralPlatform
import CorralTestSupport
import Foundation
import Testing
import CorralConfiguration

/// Prewarmed agents (`prewarm: N`), with `Tests/Fixtures/prewarm_agent.py`, which speaks the
/// protocol through `clients/python/corral_agent.py`.
@Suite("Prewarm", .serialized)
struct PrewarmTests {
    static let script = TestAgents.directory + "/../prewarm_agent.py"

    /// Adds a `prewarm_agent.py` profile to a test corral's configuration.
    static func profile(_ configuration: CorralConfiguration, mode: String = "normal", load: Double = 0, prewarm: Int) -> AgentProfile {
        var profile = AgentProfile(command: ["/usr/bin/python3", script], readiness: .notify)
        profile.environment = configuration.agents["sleeper"]!.environment
        profile.environment["PREWARM_MODE"] = mode
        profile.environment["PREWARM_LOAD_SECONDS"] = String(load)
        profile.prewarm = prewarm
        return profile
    }

    static func idle(_ client: TestCorral.Client) async throws -> [[String: Any]] {
        try await client.request(.get, "/api/prewarm").json["idle"] as? [[String: Any]] ?? []
    }

    static func readyIdle(_ client: TestCorral.Client, agent: String) async throws -> [[String: Any]] {
        try await idle(client).filter { $0["agent"] as? String == agent && $0["state"] as? String == "ready" }
    }

    static func metric(_ client: TestCorral.Client, _ line: String) async throws -> Int {
        let text = try await client.request(.get, "/metrics").text
        return text.split(separator: "\n").first { $0.hasPrefix(line + " ") }.flatMap { Double($0.split(separator: " ").last ?? "") }.map { Int($0) } ?? 0
    }

    @Test(arguments: testedModes.filter { $0 != .cgroupAttach })
    func warmStartsAreReadyAtOnceAndThePoolRefills(mode: CorralConfiguration.ContainmentMode) async throws {
        let corral = TestCorral(containment: mode) { configuration in
            configuration.agents["voice"] = Self.profile(configuration, load: 1.5, prewarm: 2)
            configuration.startupTimeoutSeconds = 20
        }
        let tag = corral.tag
        try await corral.run { client in
            #expect(try await ProcessProbe.waitUntil(timeout: .seconds(90)) { try await Self.readyIdle(client, agent: "voice").count == 2 })
            let idlePIDs = Set(try await Self.readyIdle(client, agent: "voice").compactMap { $0["pid"] as? Int })

            // Two back to back: both taken by idle agents, running at once.
            var warm: [[String: Any]] = []
            for index in 1...2 {
                let reply = try await client.request(.post, "/api/sessions", body: #"{"agent": "voice", "session_id": "call-\#(index)", "metadata": {"n": "\#(index)"}}"#)
                try #require(reply.status == .created, "\(reply.text)")
                warm.append(reply.json)
            }
            for session in warm {
                #expect(session["start"] as? String == "warm")
                #expect(session["status"] as? String == "running")
                #expect(idlePIDs.contains(session["pid"] as? Int ?? 0), "a warm session runs in a prewarmed agent")
            }
            // The third finds none ready (replacements take 1.5 s to load): cold.
            let cold = try await client.request(.post, "/api/sessions", body: #"{"agent": "voice", "session_id": "call-3"}"#)
            try #require(cold.status == .created, "\(cold.text)")
            #expect(cold.json["start"] as? String == "cold")
            #expect(cold.json["status"] as? String == "starting")

            // The agents know which session they serve, and the listing shows only sessions.
            for (index, session) in warm.enumerated() {
                let id = "call-\(index + 1)"
                #expect(try await ProcessProbe.waitUntil(timeout: .seconds(60)) {
                    try await client.request(.get, "/api/sessions/\(id)/logs?tail=50").text.contains("serving \(id) warm=True metadata={'n': '\(index + 1)'}")
                })
                #expect(session["session_id"] as? String == id)
            }
            let listed = try await client.request(.get, "/api/sessions").json["sessions"] as? [[String: Any]] ?? []
            #expect(Set(listed.compactMap { $0["session_id"] as? String }) == ["call-1", "call-2", "call-3"])
            #expect(try await ProcessProbe.waitUntil(timeout: .seconds(20)) {
                try await client.request(.get, "/api/sessions/call-3").json["status"] as? String == "running"
            })

            // The pool refills.
            #expect(try await ProcessProbe.waitUntil(timeout: .seconds(90)) { try await Self.readyIdle(client, agent: "voice").count == 2 })
            #expect(try await Self.metric(client, #"corral_session_starts_by_path_total{agent="voice",start="warm"}"#) == 2)
            #expect(try await Self.metric(client, #"corral_session_starts_by_path_total{agent="voice",start="cold"}"#) == 1)
            #expect(try await Self.metric(client, #"corral_idle_agents{agent="voice",state="ready"}"#) == 2)

            // Warm sessions end like any other: the whole tree goes.
            for session in warm {
                let pid = Int32(session["pid"] as? Int ?? 0)
                // The agent carries its idle id; what it starts after taking the session, the session's.
                let idleID = ProcFS.environment(pid)?["CORRAL_SESSION_ID"] ?? "-"
                let id = session["session_id"] as? String ?? ""
                // Tests running beside this one may have sessions of the same id: not theirs.
                let children = await ProcessProbe.sessionProcesses(idleID, run: tag) + ProcessProbe.sessionProcesses(id, run: tag)
                #expect(children.count >= 2, "the agent and its child")
                let ended = try await client.request(.delete, "/api/sessions/\(session["session_id"] as? String ?? "")")
                #expect(ended.status == .ok, "\(ended.text)")
                #expect(children.allSatisfy { !ProcessProbe.isAlive($0) }, "processes of a warm session left: \(children)")
            }
        }
    }

    @Test func brokenIdleAgentsAreReplacedWithBackoff() async throws {
        let corral = TestCorral { configuration in
            configuration.agents["crashy"] = Self.profile(configuration, mode: "crash", prewarm: 1)
            configuration.agents["stuck"] = Self.profile(configuration, mode: "never-ready", prewarm: 1)
            configuration.startupTimeoutSeconds = 1
        }
        try await corral.run { client in
            let crashes = #"corral_prewarm_failures_total{agent="crashy"}"#
            let stuck = #"corral_prewarm_failures_total{agent="stuck"}"#
            #expect(try await ProcessProbe.waitUntil(timeout: .seconds(30)) {
                let crashed = try await Self.metric(client, crashes)
                let timedOut = try await Self.metric(client, stuck)
                return crashed >= 3 && timedOut >= 2
            })
            #expect(try await Self.metric(client, #"corral_sessions_ended_total{agent="crashy",reason="exited"}"#) == 0, "idle agents are not sessions")
            // Backing off (1 s, 2 s, 4 s, ...): no tight respawn loop.
            #expect(try await Self.metric(client, crashes) < 8)
            #expect(try await Self.readyIdle(client, agent: "crashy").isEmpty)
            // With no idle agent ready, a start goes cold.
            let reply = try await client.request(.post, "/api/sessions", body: #"{"agent": "stuck"}"#)
            #expect(reply.status == .created)
            #expect(reply.json["start"] as? String == "cold")
        }
    }

    @Test func anAgentThatDoesNotAcknowledgeIsEndedAndTheSessionGoesCold() async throws {
        let corral = TestCorral { configuration in
            configuration.agents["mute"] = Self.profile(configuration, mode: "no-ack", prewarm: 1)
            configuration.assignTimeoutSeconds = 0.5
        }
        try await corral.run { client in
            #expect(try await ProcessProbe.waitUntil(timeout: .seconds(90)) { try await Self.readyIdle(client, agent: "mute").count == 1 })
            let mute = Int32(try await Self.readyIdle(client, agent: "mute").first?["pid"] as? Int ?? 0)
            let reply = try await client.request(.post, "/api/sessions", body: #"{"agent": "mute", "session_id": "call-1"}"#)
            try #require(reply.status == .created, "\(reply.text)")
            #expect(reply.json["start"] as? String == "cold")
            #expect(reply.json["pid"] as? Int != Int(mute))
            #expect(await ProcessProbe.waitUntil(timeout: .seconds(60)) { !ProcessProbe.isAlive(mute) }, "the agent that did not answer is ended")
            #expect(try await ProcessProbe.waitUntil { try await Self.metric(client, #"corral_prewarm_failures_total{agent="mute"}"#) == 1 })
            #expect(try await ProcessProbe.waitUntil(timeout: .seconds(20)) {
                try await client.request(.get, "/api/sessions/call-1").json["status"] as? String == "running"
            })
        }
    }

    /// An idle agent running as another user must reach the notify socket to become ready (it
    /// could not when the socket was in the 0700 data directory), and then take a session.
    @Test(.enabled(if: geteuid() == 0, "dropping privileges needs root"))
    func prewarmedAgentsOfAnotherUserBecomeReady() async throws {
        let corral = TestCorral { configuration in
            var profile = Self.profile(configuration, prewarm: 1)
            profile.user = AgentUser(uid: 65534, gid: 65534, groups: [65534])
            configuration.agents["unprivileged"] = profile
            configuration.startupTimeoutSeconds = 20
        }
        try await corral.run { client in
            #expect(try await ProcessProbe.waitUntil(timeout: .seconds(90)) { try await Self.readyIdle(client, agent: "unprivileged").count == 1 })
            let reply = try await client.request(.post, "/api/sessions", body: #"{"agent": "unprivileged", "session_id": "call-1"}"#)
            try #require(reply.status == .created, "\(reply.text)")
            #expect(reply.json["start"] as? String == "warm")
            #expect(reply.json["status"] as? String == "running")
            #expect(try await ProcessProbe.waitUntil(timeout: .seconds(60)) {
                try await client.request(.get, "/api/sessions/call-1/logs?tail=50").text.contains("serving call-1 warm=True")
            })
            #expect(try await client.request(.delete, "/api/sessions/call-1").status == .ok)
        }
    }

    @Test(arguments: testedModes.filter { $0 != .cgroupAttach })
    func idleAndWarmAgentsSurviveACrashOfCorral(mode: CorralConfiguration.ContainmentMode) async throws {
        let profile: [String: Any] = [
            "command": ["/usr/bin/python3", Self.script], "ready": "notify", "prewarm": 1,
            "env": ["PREWARM_LOAD_SECONDS": "0.2"],
        ]
        try await CrashTestBed.run(containment: mode, extra: ["startup_timeout_seconds": 20]) { bed in
            var agents = bed.config["agents"] as! [String: Any]
            var voice = profile
            voice["env"] = (profile["env"] as! [String: String]).merging(["CORRAL_TEST_RUN": bed.tag]) { $1 }
            agents["voice"] = voice
            bed.config["agents"] = agents
            let corral = try await bed.startCorral()
            func readyIdle(_ corral: CorralProcess) async throws -> [Int32] {
                let idle = try await corral.request(.GET, "/api/prewarm").json["idle"] as? [[String: Any]] ?? []
                return idle.filter { $0["state"] as? String == "ready" }.map { Int32($0["pid"] as? Int ?? 0) }
            }
            #expect(try await ProcessProbe.waitUntil(timeout: .seconds(90)) { try await readyIdle(corral).count == 1 })
            let session = try await corral.start(#"{"agent": "voice", "session_id": "warm-1"}"#)
            #expect(session["start"] as? String == "warm")
            #expect(try await ProcessProbe.waitUntil(timeout: .seconds(90)) { try await readyIdle(corral).count == 1 })
            let idle = try #require(try await readyIdle(corral).first)

            await bed.crash()
            // The warm session runs on. The idle agent may go by itself: its assignment channel
            // closed with corral (the Python helper exits then).
            #expect(ProcessProbe.isAlive(session.pid))

            let restarted = try await bed.startCorral()
            let listed = try await restarted.sessions()
            #expect(listed.map(\.sessionID) == ["warm-1"], "before: \(corral.log.suffix(2500))\nafter: \(restarted.log.suffix(2500))")
            #expect(listed.first?.pid == session.pid, "the warm session is re-adopted")
            #expect(await ProcessProbe.waitUntil(timeout: .seconds(60)) { !ProcessProbe.isAlive(idle) }, "the idle agent from before is replaced")
            #expect(try await ProcessProbe.waitUntil(timeout: .seconds(30)) {
                let now = try await readyIdle(restarted)
                return now.count == 1 && now.first != idle
            })
            let ended = try await restarted.request(.DELETE, "/api/sessions/warm-1")
            #expect(ended.status == 200, "\(ended.text)")
            #expect(!ProcessProbe.isAlive(session.pid))
        }
    }
}

/// The Python helper for agent authors has unit tests of its own (against real sockets); they run
/// with the rest of the suite.
@Test func pythonAgentHelperTests() async throws {
    let directory = TestAgents.directory + "/../../../clients/python"
    let result = try await CommandRunner.run(
        "/usr/bin/python3", ["-m", "unittest", "discover", "-s", directory, "-t", directory],
        environment: ["PYTHONDONTWRITEBYTECODE": "1"]
    )
    #expect(result.status == 0, "clients/python tests failed:\n\(result.output)\n\(result.errors)")
}
