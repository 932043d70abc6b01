import CorralCore
import CorralTestSupport
import Foundation
import Testing

/// corral killed with SIGKILL while sessions forked from a template run: they run on, and the
/// next corral re-adopts them by their cgroups like any session; the template, whose control
/// channel died with corral, is replaced by a fresh one.
@Suite("Templates: corral dies", .serialized, .enabled(if: CgroupSupport.available, "\(CgroupSupport.unavailableReason)"))
struct TemplateRecoveryTests {
    @Test func forkedSessionsAreReadoptedAndTheTemplateReplaced() async throws {
        try await CrashTestBed.run(containment: .cgroup) { bed in
            bed.addTemplateProfile("voice")
            let corral = try await bed.startCorral()
            let template = try await Templates.ready(corral, "voice")
            let trigger = bed.trigger("go")
            let serving = try await Templates.start(corral, #"{"agent": "voice", "session_id": "call-1"}"#)
            let exiting = try await Templates.start(corral, #"{"agent": "voice", "session_id": "call-2", "metadata": {"exit_code": "0", "exit_when": "\#(trigger)"}}"#)
            for reply in [serving, exiting] { try #require(reply.status == 201 && reply.json["start"] as? String == "fork", "\(reply.text)") }
            #expect(try await Templates.log(corral, "call-1", contains: "serving call-1"))
            #expect(try await Templates.log(corral, "call-2", contains: "waiting to exit"))

            await bed.crash()
            #expect(ProcessProbe.isAlive(serving.json.pid) && ProcessProbe.isAlive(exiting.json.pid), "forks died with corral")

            let restarted = try await bed.startCorral()
            let listed = try await restarted.sessions()
            #expect(Dictionary(uniqueKeysWithValues: listed.map { ($0.sessionID, $0.pid) }) == ["call-1": serving.json.pid, "call-2": exiting.json.pid])
            #expect(listed.allSatisfy { $0["start"] as? String == "fork" })
            let fresh = try await Templates.ready(restarted, "voice", notPID: template["pid"] as? Int)
            #expect(await ProcessProbe.waitUntil { !ProcessProbe.isAlive(Int32(template["pid"] as? Int ?? 0)) }, "the template from before is gone")
            #expect(fresh["restarts"] as? Int == 0, "a new corral's first template")

            // The adopted forks end as any session: by themselves, and by DELETE.
            bed.fire(trigger)
            #expect(try await ProcessProbe.waitUntil(timeout: .seconds(20)) { try await restarted.sessions().map(\.sessionID) == ["call-1"] })
            let ended = try await restarted.request(.DELETE, "/api/sessions/call-1")
            #expect(ended.status == 200, "\(ended.text)")
            #expect(!ProcessProbe.isAlive(serving.json.pid) && !ProcessProbe.isAlive(exiting.json.pid))
            // (Other suites run sessions named call-1 at the same time: only this bed's count.)
            let tagged = await bed.taggedProcesses()
            #expect(await ProcessProbe.sessionProcesses("call-1").filter { tagged.contains($0) }.isEmpty)

            let next = try await Templates.start(restarted, #"{"agent": "voice", "session_id": "call-3"}"#)
            #expect(next.json["start"] as? String == "fork", "\(next.text)")
            #expect(try await restarted.request(.DELETE, "/api/sessions/call-3").status == 200)
        }
    }
}
