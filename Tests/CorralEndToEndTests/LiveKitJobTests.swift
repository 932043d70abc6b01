import CorralCore
import CorralPlatform
import CorralSecurity
import CorralTestSupport
import Foundation
import Testing

/// A LiveKit job assigned to corral runs as session `lk-<job id>` of the worker's profile, with
/// the job in its environment; its room token is given to the agent and shown nowhere else; its
/// end is reported to LiveKit as a success or a failure with the reason.
@Suite("LiveKit worker: jobs as sessions", .serialized, .enabled(if: livekitAgentsPython != nil, "\(livekitAgentsSkipped)"))
struct LiveKitJobTests {
    static func json(_ text: String?) -> [String: Any]? {
        text.flatMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }
    }

    @Test func anAssignedJobRunsWithItsEnvironmentAndItsTokenIsShownNowhere() async throws {
        try await LiveKitWorkerBed.run(extra: ["api_token": "admin-token", "log_level": "trace"]) { lk in
            lk.addWorker(
                "voice", command: [TestAgents.path("cooperative.sh")], agentName: "voice-agent", worker: ["participant_identity": "voice-{job_id}"]
            )
            let corral = try await lk.startCorrals(workers: 1)[0]
            let admin = ["Authorization": "Bearer admin-token"]
            let events = try await EventStream.open("http://127.0.0.1:\(corral.port)/api/events", token: "admin-token")
            defer { events.close() }

            let metadata = #"{"caller": "+15550100"}"#
            let job = try await lk.server.assign(agentName: "voice-agent", room: "consult-42", metadata: metadata)
            let id = jobSession(job.id)
            let session = try #require(try await corral.waitForSession(id, headers: admin))
            try await lk.server.expectStatus(job.id, "JS_RUNNING")

            // What the agent really has in its environment.
            let environment = try #require(ProcFS.environment(session.pid))
            #expect(environment["LIVEKIT_URL"] == lk.server.url)
            #expect(environment["LIVEKIT_ROOM"] == "consult-42")
            #expect(environment["LIVEKIT_JOB_ID"] == job.id)
            #expect(environment["LIVEKIT_AGENT_NAME"] == "voice-agent")
            #expect(environment["LIVEKIT_TOKEN"] == job.token, "the room token the server minted for the job")
            #expect(environment["CORRAL_SESSION_ID"] == id)
            let described = try #require(Self.json(environment["LIVEKIT_JOB"]), "LIVEKIT_JOB is JSON: \(environment["LIVEKIT_JOB"] ?? "")")
            #expect(described["id"] as? String == job.id)
            #expect((described["room"] as? [String: Any])?["name"] as? String == "consult-42")
            #expect(described["agentName"] as? String == "voice-agent")
            #expect(described["metadata"] as? String == metadata)
            #expect(Self.json(environment["CORRAL_METADATA"]) as? [String: String] == ["livekit_job_metadata": metadata])
            #expect(!environment.values.contains { $0.contains(lk.server.apiSecret) }, "the API secret never reaches an agent")
            #expect(!(ProcFS.commandLine(session.pid) ?? []).joined().contains(job.token))
            #expect(session["metadata"] as? [String: String] == ["livekit_job_metadata": metadata])
            let shownJob = session["livekit"] as? [String: String]
            #expect(shownJob?["room"] == "consult-42" && shownJob?["identity"] == "voice-\(job.id)", "\(shownJob ?? [:])")
            #expect(shownJob?["job_id"] == job.id && shownJob?["agent_name"] == "voice-agent", "\(shownJob ?? [:])")
            #expect(shownJob?["dispatch_id"] == described["dispatchId"] as? String, "\(shownJob ?? [:])")
            // The identity corral answered the offer with is the one LiveKit's token names.
            #expect((try await lk.server.job(job.id)["participant"] as? [String: Any])?["identity"] as? String == "voice-\(job.id)")

            // Admins see environments, but not the room token.
            let inspected = try await corral.request(.GET, "/api/debug/session/\(id)/processes", headers: admin)
            #expect(inspected.status == 200)
            let leader = try #require((inspected.json["child_processes"] as? [[String: Any]])?.first)
            let shown = try #require(leader["env"] as? [String: String], "\(inspected.text)")
            #expect(shown["LIVEKIT_ROOM"] == "consult-42")
            #expect(shown["LIVEKIT_TOKEN"] == Redactor.mask)

            var answers: [String: String] = ["inspection": inspected.text]
            answers["session list"] = try await corral.request(.GET, "/api/sessions?usage=true", headers: admin).text
            answers["session"] = try await corral.request(.GET, "/api/sessions/\(id)", headers: admin).text
            answers["log"] = try await corral.request(.GET, "/api/sessions/\(id)/logs", headers: admin).text
            answers["metrics"] = try await corral.request(.GET, "/metrics").text

            try await lk.server.terminate(job.id)
            try await lk.server.expectStatus(job.id, "JS_SUCCESS")
            #expect(await ProcessProbe.waitUntil { events.received.contains { $0["type"] as? String == "session.ended" } })
            let received = events.received
            #expect(received.first?["type"] as? String == "session.started" && received.first?["session_id"] as? String == id)
            answers["events"] = String(decoding: try JSONSerialization.data(withJSONObject: received), as: UTF8.self)
            lk.node.corral = nil
            #expect(await corral.terminate() == 0)
            answers["corral's log"] = corral.log
            answers["audit log"] = try String(contentsOfFile: lk.node.dataDirectory + "/audit.log", encoding: .utf8)
            #expect(answers["audit log"]?.contains("\"inspect\"") == true, "the audit log is the one written")
            #expect(answers["corral's log"]?.contains("accepted a LiveKit job") == true, "corral's log is the one written")

            // Not the token, nor its signature alone.
            let signature = String(job.token.split(separator: ".").last ?? "")
            for (place, text) in answers.sorted(by: { $0.key < $1.key }) {
                #expect(!text.contains(signature), "the job's room token shows in \(place)")
            }
        }
    }

    @Test func aJobsEndIsReportedAsSuccessOrFailureWithTheReason() async throws {
        try await LiveKitWorkerBed.run(extra: ["watch_interval_seconds": 0.2, "startup_timeout_seconds": 2]) { lk in
            lk.addWorker("clean", command: ["/bin/sh", "-c", "sleep 2"], agentName: "clean")
            lk.addWorker("crash", command: [TestAgents.path("crash.sh")], agentName: "crash")
            lk.addWorker("never-ready", command: [TestAgents.path("never-ready.sh")], agentName: "never-ready", profile: ["ready": "notify"])
            lk.addWorker("memory-hog", command: [TestAgents.path("memory-hog.py")], agentName: "memory-hog", profile: ["memory_limit_mb": 64])
            let corral = try await lk.startCorrals(workers: 4)[0]
            let expected: [String: (statuses: [String]?, error: String)] = [
                "clean": (["JS_RUNNING", "JS_SUCCESS"], ""),
                // It may exit before its JS_RUNNING is reported.
                "crash": (nil, "agent exit code 3"),
                "never-ready": (["JS_FAILED"], "the agent did not become ready in time (startup timeout)"),
                "memory-hog": (["JS_RUNNING", "JS_FAILED"], "the agent went over its memory limit"),
            ]
            let jobs = try await withThrowingTaskGroup(of: (String, String).self) { group in
                for agent in expected.keys {
                    group.addTask { (agent, try await lk.server.assign(agentName: agent, room: "room-\(agent)").id) }
                }
                return try await group.reduce(into: [String: String]()) { $0[$1.0] = $1.1 }
            }
            for (agent, (statuses, error)) in expected.sorted(by: { $0.key < $1.key }) {
                let jobID = try #require(jobs[agent])
                let final = error.isEmpty ? "JS_SUCCESS" : "JS_FAILED"
                try await lk.server.expectStatus(jobID, final)
                let reported = try await lk.server.statuses(jobID)
                if let statuses { #expect(reported.map { $0["status"] as? String } == statuses, "\(agent): \(reported)") }
                #expect(reported.last?["error"] as? String == error, "\(agent): \(reported)")
                #expect(try await ProcessProbe.waitUntil { try await corral.session(jobSession(jobID)) == nil })
                #expect(await ProcessProbe.sessionProcesses(jobSession(jobID)).isEmpty, "\(agent): processes left")
            }
            #expect(try await ProcessProbe.waitUntil { try await lk.server.connectedWorkers().allSatisfy { $0["job_count"] as? Int == 0 } })
        }
    }

    /// A JobTermination right behind the assignment comes while the job's session is still being
    /// started (before the supervisor knows it): it must end the job all the same.
    @Test func aJobTerminatedAsItIsAssignedDoesNotRunOn() async throws {
        try await LiveKitWorkerBed.run { lk in
            lk.addWorker("voice", command: [TestAgents.path("cooperative.sh")], agentName: "voice")
            let corral = try await lk.startCorrals(workers: 1)[0]
            try await lk.server.configure(["terminate_on_assignment": true])
            var jobs: [String] = []
            for index in 0..<5 { jobs.append(try await lk.server.assign(agentName: "voice", room: "hang-up-\(index)").id) }
            for job in jobs {
                try await lk.server.expectStatus(job, "JS_SUCCESS")
                #expect(try await ProcessProbe.waitUntil { try await corral.session(jobSession(job)) == nil }, "job \(job) runs on")
                #expect(await ProcessProbe.sessionProcesses(jobSession(job)).isEmpty)
            }
            #expect(try await ProcessProbe.waitUntil { try await lk.server.worker("voice")?["job_count"] as? Int == 0 })
        }
    }

    @Test func jobTerminationEndsTheWholeTreeEvenOfAnAgentIgnoringSIGTERM() async throws {
        try await LiveKitWorkerBed.run { lk in
            lk.addWorker("cooperative", command: [TestAgents.path("cooperative.sh")], agentName: "cooperative")
            lk.addWorker("stubborn", command: [TestAgents.path("ignore-term.sh")], agentName: "stubborn")
            let corral = try await lk.startCorrals(workers: 2)[0]
            for agent in ["cooperative", "stubborn"] {
                let job = try await lk.server.assign(agentName: agent, room: "room-\(agent)")
                let id = jobSession(job.id)
                let session = try #require(try await corral.waitForSession(id))
                // The agent and its child (the stubborn one's child ignores SIGTERM too).
                #expect(await ProcessProbe.waitUntil { await ProcessProbe.sessionProcesses(id).count >= 2 }, "\(agent)")
                try await lk.server.expectStatus(job.id, "JS_RUNNING")

                try await lk.server.terminate(job.id)
                try await lk.server.expectStatus(job.id, "JS_SUCCESS")
                #expect(try await ProcessProbe.waitUntil { try await corral.session(id) == nil })
                #expect(await ProcessProbe.sessionProcesses(id).isEmpty, "\(agent): processes of the job left")
                #expect(!ProcessProbe.groupExists(Int32(session["pgid"] as? Int ?? 0)))
            }
        }
    }
}
