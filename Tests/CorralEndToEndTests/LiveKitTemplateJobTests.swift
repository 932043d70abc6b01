import CorralCore
import CorralTestSupport
import Foundation
import Testing

/// A LiveKit worker profile with `template`: its jobs are forked from the template, and how a
/// fork exits (reported by the template) is the job's JS_SUCCESS or JS_FAILED, as for a cold agent.
@Suite(
    "LiveKit worker: jobs forked from a template",
    .enabled(if: livekitAgentsPython != nil, "\(livekitAgentsSkipped)"),
    .enabled(if: CgroupSupport.available, "\(CgroupSupport.unavailableReason)")
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
}
