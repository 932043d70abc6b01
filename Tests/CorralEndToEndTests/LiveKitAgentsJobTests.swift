import CorralCore
import CorralTestSupport
import Foundation
import Testing

/// LiveKit's own agent framework under real corral: `clients/python/corral_livekit.py` runs an
/// unchanged livekit-agents entrypoint (`Tests/Fixtures/livekit_job_agent.py`) as the session of
/// a job the test LiveKit server assigned to corral. The server's assignment names a local
/// endpoint (`livekit_room_recorder.py`) as the room's URL, so `ctx.connect()` is seen there with
/// the token it carried.
@Suite("LiveKit worker: livekit-agents jobs", .enabled(if: livekitAgentsPython != nil, "\(livekitAgentsSkipped)"), .takingTurns(.livekitAgents))
struct LiveKitAgentsJobTests {
    static let agent = LiveKitTestServer.fixtures + "/livekit_job_agent.py"
    static let recorder = LiveKitTestServer.fixtures + "/livekit_room_recorder.py"

    /// The JSON lines of a file (none while it does not exist).
    static func lines(_ path: String) -> [[String: Any]] {
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }
    }

    /// A run of livekit-agents jobs: a scratch folder with the agent's record (`records`) and the
    /// room server's (`connections`, every connection the jobs make to it), that room server, and a
    /// LiveKit worker bed with the time livekit-agents needs (seconds to load, LiveKit's shutdown
    /// sequence to end). Everything is removed however `body` ends.
    struct Run {
        let lk: LiveKitWorkerBed
        let room: LiveKitTestServer
        let records: String
        let connections: String

        /// The agent's records of one kind (`entrypoint`, `prewarm`, `connect`, `shutdown`).
        func recorded(_ kind: String) -> [[String: Any]] { LiveKitAgentsJobTests.lines(records).filter { $0["kind"] as? String == kind } }
    }

    static func withRun(_ name: String, _ body: (Run) async throws -> Void) async throws {
        let directory = NSTemporaryDirectory() + "corral-\(name)-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let records = directory + "/job.jsonl", connections = directory + "/room.jsonl"
        let room = LiveKitTestServer(script: Self.recorder, extraArguments: ["--record", connections])
        try await room.start()
        do {
            try await LiveKitWorkerBed.run(extra: ["startup_timeout_seconds": 120, "grace_seconds": 30]) { lk in
                try await body(Run(lk: lk, room: room, records: records, connections: connections))
            }
        } catch {
            await room.remove()
            throw error
        }
        await room.remove()
    }

    @Test func anEntrypointRunsWithTheJobAndConnectsWithCorralsToken() async throws {
        try await Self.withRun("livekit-agents") { run in
            let (lk, room, records, connections, recorded) = (run.lk, run.room, run.records, run.connections, run.recorded)
            lk.addWorker(
                "voice", command: [livekitAgentsPython!, Self.agent], agentName: "voice",
                profile: [
                    "ready": "notify",
                    "env": ["JOB_AGENT_RECORD": records, "LIVEKIT_AGENTS_PRELOAD_LOCAL_INFERENCE": "0", "PYTHONDONTWRITEBYTECODE": "1"],
                ]
            )
            let corral = try await lk.startCorrals(workers: 1)[0]
            try await lk.server.configure(["assignment_url": room.url])
            let job = try await lk.server.assign(agentName: "voice", room: "consult-7", metadata: "caller=42")
            let id = jobSession(job.id)
            let session = try #require(try await corral.waitForSession(id))

            #expect(await ProcessProbe.waitUntil(timeout: .seconds(120)) { !recorded("entrypoint").isEmpty }, "\(corral.log.suffix(2000))")
            let entry = try #require(recorded("entrypoint").first)
            #expect(entry["pid"] as? Int == session["pid"] as? Int, "the job runs in the process corral started")
            #expect(entry["job_id"] as? String == job.id)
            #expect(entry["room"] as? String == "consult-7")
            #expect(entry["agent_name"] as? String == "voice")
            #expect(entry["metadata"] as? String == "caller=42")
            #expect(entry["identity"] as? String == "agent-\(job.id)")
            #expect(entry["session"] as? String == id)
            #expect(recorded("prewarm").count == 1)
            try await lk.server.expectStatus(job.id, "JS_RUNNING")

            // ctx.connect() went to LIVEKIT_URL (the assignment's) with the job's room token.
            #expect(await ProcessProbe.waitUntil(timeout: .seconds(60)) { !recorded("connect").isEmpty })
            let attempts = Self.lines(connections)
            #expect(!attempts.isEmpty)
            #expect(attempts.allSatisfy { ($0["path"] as? String ?? "").hasPrefix("/rtc") }, "\(attempts)")
            #expect(Set(attempts.compactMap { $0["token"] as? String }) == [job.token])

            // LiveKit ends the job: LiveKit's shutdown sequence runs, and nothing is left.
            try await lk.server.terminate(job.id)
            try await lk.server.expectStatus(job.id, "JS_SUCCESS")
            #expect(try await ProcessProbe.waitUntil(timeout: .seconds(60)) { try await corral.session(id) == nil })
            #expect(recorded("shutdown").map { $0["reason"] as? String } == ["SIGTERM from corral"])
            #expect(await ProcessProbe.sessionProcesses(id).isEmpty)
        }
    }
}
