import CorralCore
import CorralTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// corral (the real binary) as a LiveKit agent worker against the test LiveKit server: it
/// registers one worker per `livekit_worker` profile with a token LiveKit accepts, takes offers
/// while it has room and declines them at `max_jobs` and while draining, and reports its status
/// and load.
@Suite("LiveKit worker: registration and capacity", .serialized, .enabled(if: livekitAgentsPython != nil, "\(livekitAgentsSkipped)"))
struct LiveKitWorkerTests {
    static let sleeper = ["sleep", "1000"]

    @Test func eachWorkerProfileRegistersAWorkerWithATokenLiveKitAccepts() async throws {
        try await LiveKitWorkerBed.run(nodes: 2) { lk in
            lk.addWorker("receptionist", command: Self.sleeper, agentName: "receptionist")
            lk.addWorker("billing", command: Self.sleeper, agentName: "billing", worker: ["max_jobs": 3])
            // The second node signs with another secret: the server refuses it, so the first
            // node's registrations say that its tokens were checked and accepted.
            lk.nodes[1].config["livekit"] = ["url": lk.server.url, "api_key": lk.server.apiKey, "api_secret": "not-the-secret-0123456789-0123456789"]
            let corral = try await lk.node.startCorral()
            try await lk.nodes[1].startCorral()

            #expect(try await ProcessProbe.waitUntil(timeout: .seconds(60)) { try await lk.server.connectedWorkers().count == 2 })
            #expect(try await ProcessProbe.waitUntil(timeout: .seconds(30)) {
                let refused = try await lk.server.control(.GET, "/control/state")["refused"] as? [[String: Any]] ?? []
                return refused.contains { ($0["reason"] as? String ?? "").hasPrefix("token not accepted") }
            })
            let workers = try await lk.server.connectedWorkers()
            #expect(workers.count == 2, "only the first node registers, once per profile: \(workers)")
            #expect(Set(workers.compactMap { $0["agent_name"] as? String }) == ["receptionist", "billing"])
            for worker in workers {
                #expect(worker["job_type"] as? String == "JT_ROOM")
                #expect(worker["auth_via"] as? String == "header")
                #expect(worker["status"] as? String == "WS_AVAILABLE")
                #expect(worker["job_count"] as? Int == 0)
            }
            #expect((try await lk.server.control(.GET, "/control/state")["protocol_errors"] as? [Any])?.isEmpty == true)

            // A job goes to the worker of its agent name and runs as that profile's session.
            let job = try await lk.server.assign(agentName: "billing", room: "invoice-7")
            let session = try #require(try await corral.waitForSession(jobSession(job.id)))
            #expect(session["agent"] as? String == "billing")
            #expect(try await lk.server.job(job.id)["worker_id"] as? String == (try await lk.server.worker("billing"))?["id"] as? String)
        }
    }

    @Test func takesJobsBelowMaxJobsDeclinesAtItAndReportsItsLoad() async throws {
        try await LiveKitWorkerBed.run { lk in
            lk.addWorker("voice", command: Self.sleeper, agentName: "voice", worker: ["max_jobs": 2])
            let corral = try await lk.startCorrals(workers: 1)[0]
            func reports(_ status: String, load: Double, jobs: Int) async throws -> Bool {
                try await ProcessProbe.waitUntil(timeout: .seconds(30)) {
                    let worker = try await lk.server.worker("voice") ?? [:]
                    return worker["status"] as? String == status && worker["load"] as? Double == load && worker["job_count"] as? Int == jobs
                }
            }
            #expect(try await reports("WS_AVAILABLE", load: 0, jobs: 0))

            let first = try await lk.server.assign(agentName: "voice", room: "r-1")
            #expect(try await reports("WS_AVAILABLE", load: 0.5, jobs: 1))
            let second = try await lk.server.assign(agentName: "voice", room: "r-2")
            #expect(try await reports("WS_FULL", load: 1, jobs: 2))

            // At max_jobs, an offer that reaches the worker anyway (its WS_FULL still on the way)
            // is declined.
            try await lk.server.configure(["offer_to_full_workers": true])
            let declined = try await lk.server.dispatch(agentName: "voice", room: "r-3")
            #expect(declined["outcome"] as? String == "no_worker", "\(declined)")
            #expect((declined["offers"] as? [[String: Any]])?.map { $0["answer"] as? String } == ["unavailable"], "\(declined)")
            #expect(Set(try await corral.sessions().map(\.sessionID)) == [jobSession(first.id), jobSession(second.id)])

            // An end makes room: available again, and the next offer is taken.
            try await lk.server.terminate(first.id)
            try await lk.server.expectStatus(first.id, "JS_SUCCESS")
            #expect(try await reports("WS_AVAILABLE", load: 0.5, jobs: 1))
            let third = try await lk.server.assign(agentName: "voice", room: "r-4")
            #expect(try await reports("WS_FULL", load: 1, jobs: 2))
            #expect(Set(try await corral.sessions().map(\.sessionID)) == [jobSession(second.id), jobSession(third.id)])
        }
    }

    @Test func whileCorralDrainsItSaysFullDeclinesOffersAndReportsTheLastEnds() async throws {
        try await LiveKitWorkerBed.run(extra: ["shutdown": "drain", "drain_timeout_seconds": 120]) { lk in
            lk.addWorker("voice", command: [TestAgents.path("cooperative.sh")], agentName: "voice")
            let corral = try await lk.startCorrals(workers: 1)[0]
            let job = try await lk.server.assign(agentName: "voice", room: "last-call")
            let session = try #require(try await corral.waitForSession(jobSession(job.id)))
            try await lk.server.expectStatus(job.id, "JS_RUNNING")

            kill(corral.pid, SIGTERM)
            #expect(try await ProcessProbe.waitUntil(timeout: .seconds(30)) { try await lk.server.worker("voice")?["status"] as? String == "WS_FULL" })
            try await lk.server.configure(["offer_to_full_workers": true])
            let declined = try await lk.server.dispatch(agentName: "voice", room: "too-late")
            #expect(declined["outcome"] as? String == "no_worker", "\(declined)")
            #expect((declined["offers"] as? [[String: Any]])?.map { $0["answer"] as? String } == ["unavailable"], "\(declined)")
            #expect(ProcessProbe.isAlive(session.pid), "draining leaves the running job alone")

            // LiveKit ends the job: corral reports it, and its drain is over.
            try await lk.server.terminate(job.id)
            try await lk.server.expectStatus(job.id, "JS_SUCCESS")
            #expect(await corral.waitForExit(timeout: .seconds(60)) == 0, "\(corral.log.suffix(2000))")
            lk.node.corral = nil
            #expect(await ProcessProbe.sessionProcesses(jobSession(job.id)).isEmpty)
        }
    }
}
