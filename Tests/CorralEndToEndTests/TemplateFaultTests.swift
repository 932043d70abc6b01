import CorralCore
import CorralTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Templates that go wrong, with the real `corral` binary: one that answers garbage or with a
/// process that is not the session's, one that stops answering (and the bound on the requests
/// waiting for it), one that never gets ready; the other profiles serve on through all of it.
@Suite("Templates: faults", .serialized)
struct TemplateFaultTests {
    static let cgroups = CgroupSupport.available

    @Test(.enabled(if: cgroups, "\(CgroupSupport.unavailableReason)"))
    func aTemplateThatAnswersGarbageFailsTheStartAndIsReplaced() async throws {
        try await CrashTestBed.run(containment: .cgroup) { bed in
            bed.addTemplateProfile("garbage", file: "template-hostile.py", env: ["HOSTILE_MODE": "garbage"], extra: ["ready": "exec"])
            bed.addTemplateProfile("stranger", file: "template-hostile.py", env: ["HOSTILE_MODE": "stranger"], extra: ["ready": "exec"])
            bed.addTemplateProfile("voice")
            let corral = try await bed.startCorral()
            for (agent, why) in [("garbage", "answered garbage"), ("stranger", "forked a child that is not the session's")] {
                let template = try await Templates.ready(corral, agent)
                let reply = try await Templates.start(corral, #"{"agent": "\#(agent)", "session_id": "\#(agent)-1"}"#)
                #expect(reply.status == 503, "\(reply.text)")
                let error = reply.json["error"] as? String ?? ""
                #expect(error.contains("agent '\(agent)': its template") && error.contains(why) && error.contains("replaced"), "\(error)")
                // Replaced: the next one is another process, and the failure is on record.
                let next = try await Templates.ready(corral, agent, notPID: template["pid"] as? Int)
                #expect((next["restarts"] as? Int ?? 0) >= 1)
                #expect(!ProcessProbe.isAlive(Int32(template["pid"] as? Int ?? 0)))
                #expect(try await corral.sessions().isEmpty, "the failed start left no session")
            }
            #expect(!FileManager.default.fileExists(atPath: (bed.cgroupRoot ?? "") + "/s-stranger-1"), "the failed fork's cgroup is gone")
            // The good profile was never held up.
            _ = try await Templates.ready(corral, "voice")
            let good = try await Templates.start(corral, #"{"agent": "voice", "session_id": "good"}"#)
            #expect(good.status == 201 && good.json["start"] as? String == "fork", "\(good.text)")
            #expect(try await corral.request(.DELETE, "/api/sessions/good").status == 200)
            let metrics = try await corral.request(.GET, "/metrics").text
            #expect(metrics.contains(#"corral_template_fork_failures_total{agent="garbage"}"#))
            #expect(metrics.contains(#"corral_template_restarts_total{agent="stranger"}"#))
        }
    }

    /// A template that never answers: the starts waiting for its answers (the requests sent at
    /// once, `ForkQueue.sendsAtOnce`) get 503 once `fork_timeout_seconds` is up and the template
    /// is replaced; the one queued behind them starts cold; one past `max_queued_forks` gets 503
    /// at once.
    @Test(.enabled(if: cgroups, "\(CgroupSupport.unavailableReason)"))
    func aSilentTemplateTimesOutAndRequestsPastTheBoundAreRefused() async throws {
        try await CrashTestBed.run(containment: .cgroup) { bed in
            bed.addTemplateProfile(
                "silent", file: "template-hostile.py", env: ["HOSTILE_MODE": "silent"],
                template: ["fork_timeout_seconds": 3, "max_queued_forks": 5], extra: ["ready": "exec"]
            )
            let corral = try await bed.startCorral()
            let template = try await Templates.ready(corral, "silent")
            let starts = (1...6).map { index in
                Task { try await Templates.start(corral, #"{"agent": "silent", "session_id": "silent-\#(index)"}"#) }
            }
            var replies: [CorralProcess.Reply] = []
            for start in starts { replies.append(try await start.value) }
            let errors = replies.filter { $0.status == 503 }.map { $0.json["error"] as? String ?? "" }
            #expect(errors.count == 5, "\(replies.map(\.text))")
            #expect(errors.filter { $0.contains("already has 5 fork requests waiting (template.max_queued_forks)") }.count == 1, "\(errors)")
            // The first answer to time out replaces the template; the others sent with it get
            // their own timeout or the channel's end.
            #expect(errors.filter { $0.hasSuffix("; the template is replaced") }.count == 4, "\(errors)")
            #expect(errors.contains { $0.contains("did not answer a fork request within 3 s; the template is replaced") }, "\(errors)")
            let cold = replies.filter { $0.status == 201 }
            #expect(cold.count == 1 && cold.first?.json["start"] as? String == "cold", "queued behind the silent one: \(replies.map(\.text))")
            _ = try await Templates.ready(corral, "silent", notPID: template["pid"] as? Int)
            for reply in cold { _ = try await corral.request(.DELETE, "/api/sessions/\(reply.json.sessionID)") }
        }
    }

    /// A template that never sends READY=1: a clear error naming its profile, retried with
    /// backoff; the profile's starts go cold meanwhile, and other profiles fork as usual.
    @Test(.enabled(if: cgroups, "\(CgroupSupport.unavailableReason)"))
    func aTemplateThatNeverGetsReadyNamesItsProfileWhileOthersServe() async throws {
        try await CrashTestBed.run(containment: .cgroup) { bed in
            bed.addTemplateProfile("stuck", env: ["TEMPLATE_NEVER_READY": "1"], template: ["startup_timeout_seconds": 1], extra: ["ready": "exec"])
            bed.addTemplateProfile("voice")
            let corral = try await bed.startCorral()
            let events = try await EventStream.open("http://127.0.0.1:\(corral.port)/api/events")
            defer { events.close() }
            var stuck: [String: Any]?
            #expect(try await ProcessProbe.waitUntil(timeout: .seconds(30)) {
                stuck = try await Templates.of(corral, "stuck")
                return (stuck?["failures_in_a_row"] as? Int ?? 0) >= 2
            }, "\(stuck ?? [:])")
            #expect(stuck?["last_error"] as? String == "did not send READY=1 within 1 s (its startup timeout)", "\(stuck ?? [:])")
            #expect(stuck?["state"] as? String != "ready")
            #expect(await ProcessProbe.waitUntil(timeout: .seconds(30)) {
                events.received.contains { $0["type"] as? String == "template.failed" && $0["agent"] as? String == "stuck" }
            }, "\(events.received)")
            #expect(corral.log.contains("the template of agent 'stuck' failed: did not send READY=1 within 1 s"), "\(corral.log.suffix(3000))")
            _ = try await Templates.ready(corral, "voice")
            let forked = try await Templates.start(corral, #"{"agent": "voice", "session_id": "voice-1"}"#)
            #expect(forked.status == 201 && forked.json["start"] as? String == "fork", "\(forked.text)")
            let cold = try await Templates.start(corral, #"{"agent": "stuck", "session_id": "stuck-1"}"#)
            #expect(cold.status == 201 && cold.json["start"] as? String == "cold", "\(cold.text)")
            for id in ["voice-1", "stuck-1"] { #expect(try await corral.request(.DELETE, "/api/sessions/\(id)").status == 200) }
        }
    }

    /// Without cgroups nothing is forked: a template profile's sessions start cold, and that is
    /// said at start-up.
    @Test func withProcessGroupsTemplateProfilesStartCold() async throws {
        try await CrashTestBed.run(containment: .processGroup) { bed in
            bed.addTemplateProfile("voice")
            let corral = try await bed.startCorral()
            #expect(try await Templates.all(corral).isEmpty)
            let reply = try await Templates.start(corral, #"{"agent": "voice", "session_id": "cold-1"}"#)
            #expect(reply.status == 201 && reply.json["start"] as? String == "cold", "\(reply.text)")
            #expect(try await Templates.log(corral, "cold-1", contains: "serving cold-1 pid=\(reply.json.pid) forked=False warm=False"))
            #expect(corral.log.contains("this profile's sessions start cold: forking them from a template needs cgroup containment"))
            #expect(try await corral.request(.DELETE, "/api/sessions/cold-1").status == 200)
        }
    }
}
