import CorralCore
import CorralPlatform
import CorralTestSupport
import Foundation
import Testing

/// A worker profile with `prewarm`: a LiveKit job goes to an idle, loaded agent, which gets the
/// job's environment through its assignment (`Tests/Fixtures/prewarm_agent.py`, which speaks
/// corral's protocol through `clients/python/corral_agent.py`).
@Suite("LiveKit worker: prewarmed agents", .enabled(if: livekitAgentsPython != nil, "\(livekitAgentsSkipped)"))
struct LiveKitPrewarmJobTests {
    @Test func aJobGoesToAnIdleAgentWithItsEnvironment() async throws {
        try await LiveKitWorkerBed.run { lk in
            lk.addWorker(
                "voice", command: ["/usr/bin/python3", PrewarmTests.script], agentName: "voice",
                profile: ["ready": "notify", "prewarm": 1, "env": ["PREWARM_MODE": "normal", "PREWARM_LOAD_SECONDS": "0"]]
            )
            let corral = try await lk.startCorrals(workers: 1)[0]
            func readyIdle() async throws -> [[String: Any]] {
                let idle = try await corral.request(.GET, "/api/prewarm").json["idle"] as? [[String: Any]] ?? []
                return idle.filter { $0["state"] as? String == "ready" }
            }
            #expect(try await ProcessProbe.waitUntil(timeout: .seconds(90)) { try await readyIdle().count == 1 })
            let idlePID = try #require(try await readyIdle().first?["pid"] as? Int)

            let job = try await lk.server.assign(agentName: "voice", room: "warm-room", metadata: "caller=7")
            let id = jobSession(job.id)
            let session = try #require(try await corral.waitForSession(id))
            #expect(session["start"] as? String == "warm")
            #expect(session["pid"] as? Int == idlePID, "the job runs in the agent that was idle")
            try await lk.server.expectStatus(job.id, "JS_RUNNING")
            #expect(try await ProcessProbe.waitUntil(timeout: .seconds(30)) {
                try await corral.request(.GET, "/api/sessions/\(id)/logs?tail=50").text
                    .contains("serving \(id) warm=True metadata={'livekit_job_metadata': 'caller=7'}")
            })

            // The agent put the assignment's environment in its own before it started its child:
            // the child (the only process whose /proc environment says the job's session) has
            // the job's variables.
            var child: Int32 = 0
            #expect(await ProcessProbe.waitUntil {
                child = await ProcessProbe.sessionProcesses(id).first { $0 != Int32(idlePID) } ?? 0
                return child > 0
            })
            let environment = try #require(ProcFS.environment(child))
            #expect(environment["LIVEKIT_URL"] == lk.server.url)
            #expect(environment["LIVEKIT_ROOM"] == "warm-room")
            #expect(environment["LIVEKIT_JOB_ID"] == job.id)
            #expect(environment["LIVEKIT_AGENT_NAME"] == "voice")
            #expect(environment["LIVEKIT_TOKEN"] == job.token)
            let described = try #require(LiveKitJobTests.json(environment["LIVEKIT_JOB"]))
            #expect(described["id"] as? String == job.id)
            #expect(LiveKitJobTests.json(environment["CORRAL_METADATA"]) as? [String: String] == ["livekit_job_metadata": "caller=7"])

            // Ended by LiveKit: the agent and its child are gone, and a new idle agent is loaded.
            try await lk.server.terminate(job.id)
            try await lk.server.expectStatus(job.id, "JS_SUCCESS")
            #expect(try await ProcessProbe.waitUntil { try await corral.session(id) == nil })
            #expect(await ProcessProbe.sessionProcesses(id).isEmpty)
            #expect(!ProcessProbe.isAlive(Int32(idlePID)))
            #expect(try await ProcessProbe.waitUntil(timeout: .seconds(90)) { try await readyIdle().count == 1 })
        }
    }
}
