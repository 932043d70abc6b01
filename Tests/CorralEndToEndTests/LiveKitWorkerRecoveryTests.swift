import CorralCore
import CorralPlatform
import CorralTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A running job outlives its LiveKit server going away and corral's own death: corral
/// registers again and reports the job in `migrate_job`, and the job's processes are never
/// touched meanwhile.
@Suite("LiveKit worker: restarts", .serialized, .enabled(if: livekitAgentsPython != nil, "\(livekitAgentsSkipped)"))
struct LiveKitWorkerRecoveryTests {
    /// The server stops (closing its connections with 1012) or dies (SIGKILL: the connections
    /// just drop), and starts again on the same port.
    @Test(arguments: [false, true])
    func aRestartedServerGetsTheRunningJobBackAndItsProcessesAreUntouched(killed: Bool) async throws {
        try await LiveKitWorkerBed.run { lk in
            lk.addWorker("voice", command: [TestAgents.path("cooperative.sh")], agentName: "voice")
            let corral = try await lk.startCorrals(workers: 1)[0]
            let job = try await lk.server.assign(agentName: "voice", room: "long-call")
            let short = try await lk.server.assign(agentName: "voice", room: "short-call")
            let id = jobSession(job.id)
            let session = try #require(try await corral.waitForSession(id))
            #expect(try await corral.waitForSession(jobSession(short.id)) != nil)
            try await lk.server.expectStatus(job.id, "JS_RUNNING")
            try await lk.server.expectStatus(short.id, "JS_RUNNING")
            let leader = try #require(ProcFS.stat(session.pid))
            let processes = Set(await ProcessProbe.sessionProcesses(id))

            if killed { kill(lk.server.pid, SIGKILL) }
            await lk.server.stop()
            // A job that ends while there is no server: its end is reported once there is one.
            #expect(try await corral.request(.DELETE, "/api/sessions/\(jobSession(short.id))").status == 200)
            try await lk.server.start()
            // A new server process: every worker it knows registered with it after the restart.
            #expect(try await ProcessProbe.waitUntil(timeout: .seconds(60)) { try await lk.server.worker("voice") != nil })
            #expect(try await ProcessProbe.waitUntil(timeout: .seconds(30)) { try await lk.server.migratedJobs() == [job.id] })
            #expect(try await ProcessProbe.waitUntil(timeout: .seconds(30)) { try await lk.server.worker("voice")?["job_count"] as? Int == 1 })
            try await lk.server.expectStatus(short.id, "JS_SUCCESS")

            #expect(ProcessProbe.isAlive(session.pid, startTime: leader.startTime), "the job's agent is the same process")
            #expect(Set(await ProcessProbe.sessionProcesses(id)) == processes)
            #expect(try await corral.session(id)?.pid == session.pid)

            // Ended through corral, the job's end reaches the new server.
            #expect(try await corral.request(.DELETE, "/api/sessions/\(id)").status == 200)
            try await lk.server.expectStatus(job.id, "JS_SUCCESS")
            #expect(await ProcessProbe.sessionProcesses(id).isEmpty)
        }
    }

    /// Stopping corral: `terminate` ends the job and reports it failed ("worker stopped") before
    /// corral exits; `detach` leaves it running, unreported, for the next corral to take over.
    @Test(arguments: ["terminate", "detach"])
    func stoppingCorralEndsOrLeavesItsJobs(shutdown: String) async throws {
        try await LiveKitWorkerBed.run(extra: ["shutdown": shutdown]) { lk in
            lk.addWorker("voice", command: [TestAgents.path("cooperative.sh")], agentName: "voice")
            let corral = try await lk.startCorrals(workers: 1)[0]
            let job = try await lk.server.assign(agentName: "voice", room: "closing-time")
            let id = jobSession(job.id)
            let session = try #require(try await corral.waitForSession(id))
            try await lk.server.expectStatus(job.id, "JS_RUNNING")

            #expect(await corral.terminate() == 0)
            lk.node.corral = nil
            if shutdown == "terminate" {
                try await lk.server.expectStatus(job.id, "JS_FAILED")
                #expect(try await lk.server.statuses(job.id).last?["error"] as? String == "worker stopped")
                #expect(await ProcessProbe.sessionProcesses(id).isEmpty)
                return
            }
            #expect(try await lk.server.statuses(job.id).map { $0["status"] as? String } == ["JS_RUNNING"])
            #expect(ProcessProbe.isAlive(session.pid))
            let next = try await lk.node.startCorral()
            #expect(try await ProcessProbe.waitUntil(timeout: .seconds(30)) { try await lk.server.migratedJobs() == [job.id] })
            #expect(try await next.session(id)?.pid == session.pid)
            // The bed stops it with `detach` too: end the job first.
            try await lk.server.terminate(job.id)
            try await lk.server.expectStatus(job.id, "JS_SUCCESS")
            #expect(try await ProcessProbe.waitUntil { try await next.session(id) == nil })
        }
    }

    @Test func aJobIsReadoptedAndReportedAfterCorralIsKilled() async throws {
        try await LiveKitWorkerBed.run { lk in
            lk.addWorker("voice", command: [TestAgents.path("cooperative.sh")], agentName: "voice")
            try await lk.startCorrals(workers: 1)
            let job = try await lk.server.assign(agentName: "voice", room: "survivor")
            let id = jobSession(job.id)
            let session = try #require(try await lk.node.corral?.waitForSession(id))
            try await lk.server.expectStatus(job.id, "JS_RUNNING")
            let leader = try #require(ProcFS.stat(session.pid))
            let firstWorker = try #require(try await lk.server.worker("voice")?["id"] as? String)

            await lk.node.crash()
            #expect(ProcessProbe.isAlive(session.pid, startTime: leader.startTime), "a crash of corral does not end its jobs")
            #expect(try await lk.server.migratedJobs().isEmpty)

            let restarted = try await lk.node.startCorral()
            #expect(try await ProcessProbe.waitUntil(timeout: .seconds(60)) {
                guard let worker = try await lk.server.worker("voice") else { return false }
                return worker["id"] as? String != firstWorker
            })
            #expect(try await ProcessProbe.waitUntil(timeout: .seconds(30)) { try await lk.server.migratedJobs() == [job.id] })
            #expect(try await restarted.session(id)?.pid == session.pid, "re-adopted")
            #expect(ProcessProbe.isAlive(session.pid, startTime: leader.startTime))
            #expect(try await ProcessProbe.waitUntil(timeout: .seconds(30)) { try await lk.server.worker("voice")?["job_count"] as? Int == 1 })

            // LiveKit can end it through the worker that took it over.
            try await lk.server.terminate(job.id)
            try await lk.server.expectStatus(job.id, "JS_SUCCESS")
            #expect(try await ProcessProbe.waitUntil { try await restarted.session(id) == nil })
            #expect(await ProcessProbe.sessionProcesses(id).isEmpty)
        }
    }
}
