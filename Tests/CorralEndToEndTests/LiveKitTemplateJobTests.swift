import CorralCore
import CorralPlatform
import CorralTestSupport
import Foundation
import Testing

/// A LiveKit worker profile with `template`: its jobs are forked from the template, and how a
/// fork exits (reported by the template) is the job's JS_SUCCESS or JS_FAILED, as for a cold agent.
/// With livekit-agents (`clients/python/corral_livekit.py` started as the template): its warm-up
/// is shared by the forked jobs, which run LiveKit's own job process and one inference process.
@Suite(
    "LiveKit worker: jobs forked from a template",
    .enabled(if: livekitAgentsPython != nil, "\(livekitAgentsSkipped)"),
    .enabled(if: CgroupSupport.available, "\(CgroupSupport.unavailableReason)"),
    .takingTurns(.livekitAgents)
)
struct LiveKitTemplateJobTests {
    @Test func aForkedJobsExitIsItsStatus() async throws {
        try await LiveKitWorkerBed.run { lk in
            lk.addWorker(
                "voice", command: ["/usr/bin/python3", TestAgents.path("template-agent.py")], agentName: "voice",
                profile: ["ready": "notify", "template": true]
            )
            let corral = try await lk.startCorrals(workers: 1)[0]
            _ = try await Templates.ready(corral, "voice")
            for (code, status, error) in [(0, "JS_SUCCESS", ""), (5, "JS_FAILED", "agent exit code 5")] {
                let job = try await lk.server.assign(agentName: "voice", room: "room-\(code)", metadata: #"{"exit_code": "\#(code)", "exit_when": "\#(lk.node.trigger("go-\(code)"))"}"#)
                let session = try #require(try await corral.waitForSession(jobSession(job.id)))
                #expect(session["start"] as? String == "fork", "\(session)")
                #expect(try await Templates.log(corral, jobSession(job.id), contains: "waiting to exit"))
                lk.node.fire(lk.node.trigger("go-\(code)"))
                try await lk.server.expectStatus(job.id, status)
                let reported = try await lk.server.statuses(job.id)
                #expect(reported.last?["error"] as? String == error, "\(reported)")
            }
        }
    }

    /// livekit-agents 1.8.9 through a template: the template loads livekit-agents and its local
    /// models once (`ipc._preload`), each job the test LiveKit server dispatches is a fork of it
    /// that runs `prewarm` and LiveKit's `_JobProc`, the runner the agent registered runs in one
    /// inference process for both jobs, and the jobs share the template's pages.
    @Test func livekitAgentsJobsAreForksOfTheWarmTemplate() async throws {
        try await LiveKitAgentsJobTests.withRun("livekit-template") { run in
            let (lk, room, records, recorded) = (run.lk, run.room, run.records, run.recorded)
            lk.addWorker(
                "voice", command: [livekitAgentsPython!, LiveKitAgentsJobTests.agent], agentName: "voice",
                profile: [
                    "ready": "notify", "template": ["memory_limit_mb": 2048],
                    "env": ["JOB_AGENT_RECORD": records, "JOB_AGENT_SERVER": "1", "PYTHONDONTWRITEBYTECODE": "1"],
                ]
            )
            let corral = try await lk.startCorrals(workers: 1)[0]
            try await lk.server.configure(["assignment_url": room.url])
            let template = try await Templates.ready(corral, "voice", timeout: .seconds(120))
            let templatePID = try #require(template["pid"] as? Int)
            #expect(recorded("prewarm").isEmpty, "prewarm runs in each job, not in the template")

            var jobs: [(id: String, pid: Int, cgroup: String)] = []
            for number in 1...2 {
                let job = try await lk.server.assign(agentName: "voice", room: "consult-\(number)", metadata: "caller=\(number)")
                let session = try #require(try await corral.waitForSession(jobSession(job.id)))
                #expect(session["start"] as? String == "fork", "\(session)")
                let pid = try #require(session["pid"] as? Int)
                #expect(await ProcessProbe.waitUntil(timeout: .seconds(60)) { recorded("entrypoint").contains { $0["pid"] as? Int == pid } }, "\(corral.log.suffix(2000))")
                let entry = try #require(recorded("entrypoint").first { $0["pid"] as? Int == pid })
                #expect(entry["parent"] as? Int == templatePID, "the job's process is a fork of the template")
                #expect(entry["job_id"] as? String == job.id)
                #expect(entry["room"] as? String == "consult-\(number)")
                #expect(entry["metadata"] as? String == "caller=\(number)")
                #expect(entry["userdata"] as? String == "models", "prewarm's JobProcess is the job's ctx.proc")
                #expect(entry["inference"] as? String == "cba")
                try await lk.server.expectStatus(job.id, "JS_RUNNING")
                jobs.append((job.id, pid, try #require(Templates.cgroup(of: Int32(pid)))))
            }
            #expect(recorded("prewarm").compactMap { $0["pid"] as? Int } == jobs.map(\.pid), "prewarm ran once in each job")
            let runners = recorded("runner_initialized")
            #expect(runners.count == 1, "one inference process for the template's jobs: \(runners)")
            let inferencePID = runners.first?["pid"] as? Int
            #expect(inferencePID != nil && inferencePID != templatePID && !jobs.contains { $0.pid == inferencePID })
            #expect(Set(recorded("inference_run").compactMap { $0["pid"] as? Int }) == Set([inferencePID].compactMap { $0 }))

            // What the template loaded is shared: each job is charged a small part of it.
            let loaded = try #require(try await Templates.of(corral, "voice")?["memory_bytes"] as? Int)
            let sessions = try await corral.request(.GET, "/api/sessions?usage=true").json["sessions"] as? [[String: Any]] ?? []
            let own = sessions.map { $0["memory_bytes"] as? Int ?? Int.max }
            let pss = sessions.map { $0["pss_bytes"] as? Int ?? Int.max }
            #expect(loaded > 200 << 20, "livekit-agents and its models are loaded in the template: \(loaded)")
            #expect(own.count == 2 && own.allSatisfy { $0 < loaded / 4 }, "charged to the jobs: \(own), to the template: \(loaded)")
            #expect(pss.count == 2 && pss.allSatisfy { $0 < loaded / 2 }, "the jobs' PSS: \(pss), the template's memory: \(loaded)")

            // LiveKit ends the jobs: LiveKit's shutdown sequence runs in each, the template
            // reports their exits, and nothing of them is left.
            for job in jobs {
                try await lk.server.terminate(job.id)
                try await lk.server.expectStatus(job.id, "JS_SUCCESS")
                #expect(try await ProcessProbe.waitUntil(timeout: .seconds(60)) { try await corral.session(jobSession(job.id)) == nil })
                #expect(!ProcessProbe.isAlive(Int32(job.pid)))
                let cgroup = (lk.node.cgroupRoot ?? "") + "/" + (job.cgroup.split(separator: "/").last.map(String.init) ?? "")
                #expect(job.cgroup.hasSuffix("/s-" + jobSession(job.id)) && !FileManager.default.fileExists(atPath: cgroup), "the job's cgroup \(job.cgroup)")
            }
            #expect(recorded("shutdown").map { $0["reason"] as? String } == ["SIGTERM from corral", "SIGTERM from corral"])
        }
    }

    /// `prewarm` with a template (LiveKit's `num_idle_processes`): the idle agent is a fork of
    /// the template that ran the agent's `prewarm(proc)` before any job; the job dispatched next
    /// is handed to it and runs with what prewarm loaded.
    @Test func anIdleForkHasRunPrewarmBeforeItsJob() async throws {
        try await LiveKitAgentsJobTests.withRun("livekit-idle-fork") { run in
            let (lk, room, records, recorded) = (run.lk, run.room, run.records, run.recorded)
            lk.addWorker(
                "voice", command: [livekitAgentsPython!, LiveKitAgentsJobTests.agent], agentName: "voice",
                profile: ["ready": "notify", "template": true, "prewarm": 1, "env": ["JOB_AGENT_RECORD": records, "PYTHONDONTWRITEBYTECODE": "1"]]
            )
            let corral = try await lk.startCorrals(workers: 1)[0]
            try await lk.server.configure(["assignment_url": room.url])
            let templatePID = try #require(try await Templates.ready(corral, "voice", timeout: .seconds(120))["pid"] as? Int)
            var idle: [[String: Any]] = []
            #expect(
                try await ProcessProbe.waitUntil(timeout: .seconds(60)) {
                    idle = (try await corral.request(.GET, "/api/prewarm").json["idle"] as? [[String: Any]] ?? []).filter { $0["state"] as? String == "ready" }
                    return idle.count == 1
                }, "\(corral.log.suffix(2000))"
            )
            let idlePID = try #require(idle.first?["pid"] as? Int)
            #expect(ProcFS.stat(Int32(idlePID))?.ppid == Int32(templatePID), "the idle agent is a fork of the template")
            #expect(recorded("prewarm").map { $0["pid"] as? Int } == [idlePID], "prewarm ran in the idle fork, before any job")

            let job = try await lk.server.assign(agentName: "voice", room: "consult-1", metadata: "caller=1")
            let session = try #require(try await corral.waitForSession(jobSession(job.id)))
            #expect(session["start"] as? String == "warm" && session["pid"] as? Int == idlePID, "\(session)")
            #expect(await ProcessProbe.waitUntil(timeout: .seconds(60)) { !recorded("entrypoint").isEmpty })
            let entry = try #require(recorded("entrypoint").first)
            #expect(entry["pid"] as? Int == idlePID && entry["parent"] as? Int == templatePID)
            #expect(entry["job_id"] as? String == job.id && entry["userdata"] as? String == "models")
            try await lk.server.expectStatus(job.id, "JS_RUNNING")
            try await lk.server.terminate(job.id)
            try await lk.server.expectStatus(job.id, "JS_SUCCESS")
            #expect(try await ProcessProbe.waitUntil(timeout: .seconds(60)) { try await corral.session(jobSession(job.id)) == nil })
            #expect(!ProcessProbe.isAlive(Int32(idlePID)))
        }
    }
}
