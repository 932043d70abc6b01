import CorralCore
import CorralPlatform
import CorralTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Sessions forked from a warm template, end to end: the real `corral` binary, a Python template
/// on `clients/python/corral_agent.py` (`Tests/Fixtures/agents/template-agent.py`), real forks
/// placing themselves in real cgroups. Forking needs cgroups: without them these are skipped.
@Suite("Templates: sessions forked from a warm template", .serialized, .enabled(if: CgroupSupport.available, "\(CgroupSupport.unavailableReason)"))
struct TemplateTests {
    static let megabyte = 1 << 20

    /// The template allocates and touches 200 MB before READY=1; four forks share it: the
    /// sum of their PSS is far below four times that, and what each is charged is its own.
    @Test func forkedSessionsShareTheTemplatesMemory() async throws {
        try await CrashTestBed.run(containment: .cgroup) { bed in
            bed.addTemplateProfile("voice", env: ["TEMPLATE_ALLOCATE_MB": "200"], template: ["memory_limit_mb": 1024])
            let corral = try await bed.startCorral()
            let template = try await Templates.ready(corral, "voice")
            let count = 4
            for index in 1...count {
                let reply = try await Templates.start(corral, #"{"agent": "voice", "session_id": "call-\#(index)"}"#)
                try #require(reply.status == 201, "\(reply.text)")
                #expect(reply.json["start"] as? String == "fork")
                #expect(try await Templates.log(corral, "call-\(index)", contains: "serving call-\(index) pid=\(reply.json.pid) forked=True warm=False shared=\(200 * Self.megabyte)"))
            }
            let sessions = try await corral.request(.GET, "/api/sessions?usage=true").json["sessions"] as? [[String: Any]] ?? []
            #expect(sessions.count == count)
            let pss = sessions.map { $0["pss_bytes"] as? Int ?? 0 }
            let own = sessions.map { $0["memory_bytes"] as? Int ?? Int.max }
            #expect(pss.allSatisfy { $0 > 0 }, "\(sessions)")
            // Cold, each would hold its own 200 MB: 800 MB. Forked, they share one copy.
            #expect(pss.reduce(0, +) < count * 200 * Self.megabyte / 2, "PSS of the forks: \(pss)")
            #expect(own.allSatisfy { $0 < 100 * Self.megabyte }, "charged to the sessions: \(own)")
            // The shared pages are the template's.
            let now = try #require(try await Templates.of(corral, "voice"))
            #expect(now["memory_bytes"] as? Int ?? 0 > 200 * Self.megabyte, "\(now)")
            #expect(now["forks"] as? Int == count)
            #expect(now["pid"] as? Int == template["pid"] as? Int)
            let metrics = try await corral.request(.GET, "/metrics").text
            #expect(metrics.contains(#"corral_template_up{agent="voice"} 1"#))
            #expect(metrics.contains(#"corral_template_forks_total{agent="voice"} \#(count)"#))
            #expect(metrics.contains(#"corral_session_starts_by_path_total{agent="voice",start="fork"} \#(count)"#))
            for index in 1...count {
                #expect(try await corral.request(.DELETE, "/api/sessions/call-\(index)").status == 200)
            }
        }
    }

    /// A fork is placed before it runs: its pid leads its own session and group, in the
    /// session's cgroup; what it starts, even a setsid() double fork, is there too, and goes
    /// with the session's end.
    @Test func aDoubleForkedEscapeeIsInTheSessionsCgroupAndEndsWithIt() async throws {
        try await CrashTestBed.run(containment: .cgroup) { bed in
            bed.addTemplateProfile("voice")
            let corral = try await bed.startCorral()
            _ = try await Templates.ready(corral, "voice")
            let reply = try await Templates.start(corral, #"{"agent": "voice", "session_id": "escape", "metadata": {"double_fork": "1"}}"#)
            try #require(reply.status == 201, "\(reply.text)")
            let leader = reply.json.pid
            #expect(reply.json["pgid"] as? Int == Int(leader) && reply.json["is_group_leader"] as? Bool == true)
            #expect(getsid(leader) == leader)
            #expect(try await Templates.log(corral, "escape", contains: "serving escape"))
            let inspection = try await corral.request(.GET, "/api/debug/session/escape/processes").json
            let processes = inspection["child_processes"] as? [[String: Any]] ?? []
            let escapees = processes.filter { $0["pgid"] as? Int != Int(leader) }.map { Int32($0["pid"] as? Int ?? 0) }
            #expect(escapees.count == 1, "the setsid() grandchild is listed with the session: \(processes)")
            let cgroup = try #require(Templates.cgroup(of: leader))
            #expect(cgroup.hasSuffix("/s-escape"))
            for pid in escapees + [leader] { #expect(Templates.cgroup(of: pid) == cgroup, "pid \(pid) outside the session's cgroup") }
            #expect(inspection["pss_bytes"] as? Int ?? 0 > 0 && inspection["memory_bytes"] as? Int ?? 0 > 0, "\(inspection)")
            let ended = try await corral.request(.DELETE, "/api/sessions/escape")
            #expect(ended.status == 200, "\(ended.text)")
            for pid in escapees + [leader] { #expect(!ProcessProbe.isAlive(pid), "pid \(pid) outlived its session") }
            #expect(!FileManager.default.fileExists(atPath: (bed.cgroupRoot ?? "") + "/s-escape"))
        }
    }

    /// Starts asked for at once: corral sends the template several requests before their
    /// answers and the template forks the next child while the last places itself. Each is
    /// answered with its own child, in its own cgroup, and the template counts every fork.
    @Test func forksAskedForAtOnceAreEachPlacedInTheirOwnCgroup() async throws {
        try await CrashTestBed.run(containment: .cgroup) { bed in
            bed.addTemplateProfile("voice")
            let corral = try await bed.startCorral()
            _ = try await Templates.ready(corral, "voice")
            let count = 8
            let replies = try await withThrowingTaskGroup(of: CorralProcess.Reply.self) { group in
                for index in 1...count {
                    group.addTask { try await Templates.start(corral, #"{"agent": "voice", "session_id": "at-once-\#(index)"}"#) }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(replies.allSatisfy { $0.status == 201 && $0.json["start"] as? String == "fork" }, "\(replies.map(\.text))")
            #expect(Set(replies.map(\.json.pid)).count == count, "each its own child")
            for reply in replies {
                let id = reply.json.sessionID
                #expect(Templates.cgroup(of: reply.json.pid)?.hasSuffix("/s-\(id)") == true, "\(id) outside its cgroup")
                #expect(try await Templates.log(corral, id, contains: "serving \(id) pid=\(reply.json.pid)"))
            }
            #expect(try await Templates.of(corral, "voice")?["forks"] as? Int == count)
            for reply in replies {
                #expect(try await corral.request(.DELETE, "/api/sessions/\(reply.json.sessionID)").status == 200)
                #expect(!ProcessProbe.isAlive(reply.json.pid))
            }
        }
    }

    /// Exit codes reach corral from the template's reports and, once the template is dead,
    /// through corral as subreaper. A template killed while its sessions run loses none: they run
    /// on and end normally, and another template takes the forks.
    @Test func exitCodesArriveAndATemplateKilledLosesNoSession() async throws {
        try await CrashTestBed.run(containment: .cgroup) { bed in
            bed.addTemplateProfile("voice")
            let corral = try await bed.startCorral()
            let template = try await Templates.ready(corral, "voice")
            let events = try await EventStream.open("http://127.0.0.1:\(corral.port)/api/events")
            defer { events.close() }
            let first = bed.trigger("first")
            let second = bed.trigger("second")
            let byTemplate = try await Templates.start(corral, #"{"agent": "voice", "session_id": "by-template", "metadata": {"exit_code": "3", "exit_when": "\#(first)"}}"#)
            let bySubreaper = try await Templates.start(corral, #"{"agent": "voice", "session_id": "by-subreaper", "metadata": {"exit_code": "4", "exit_when": "\#(second)"}}"#)
            let running = try await Templates.start(corral, #"{"agent": "voice", "session_id": "runs-on"}"#)
            for reply in [byTemplate, bySubreaper, running] {
                try #require(reply.status == 201, "\(reply.text)")
                #expect(reply.json["start"] as? String == "fork")
            }
            #expect(try await Templates.log(corral, "by-subreaper", contains: "waiting to exit"))
            #expect(try await Templates.log(corral, "runs-on", contains: "serving runs-on"))

            // Reaped and reported by the template.
            bed.fire(first)
            let reported = await Templates.ended(events, "by-template")
            #expect(reported?["exit"] as? String == "exit code 3", "\(reported ?? [:])")
            #expect(reported?["reason"] as? String == "exited")

            // The template dies; its sessions do not.
            let templatePID = Int32(template["pid"] as? Int ?? 0)
            kill(templatePID, SIGKILL)
            #expect(await ProcessProbe.waitUntil { !ProcessProbe.isAlive(templatePID) })
            let next = try await Templates.ready(corral, "voice", notPID: Int(templatePID))
            #expect(next["restarts"] as? Int == 1)
            #expect(ProcessProbe.isAlive(bySubreaper.json.pid) && ProcessProbe.isAlive(running.json.pid))
            #expect(try await corral.sessions().map(\.sessionID).sorted() == ["by-subreaper", "runs-on"])

            // Its orphan's exit is reaped by corral itself.
            bed.fire(second)
            let reaped = await Templates.ended(events, "by-subreaper")
            #expect(reaped?["exit"] as? String == "exit code 4", "\(reaped ?? [:])")

            // The new template forks; the session from before ends as any.
            let after = try await Templates.start(corral, #"{"agent": "voice", "session_id": "after"}"#)
            #expect(after.json["start"] as? String == "fork", "\(after.text)")
            for id in ["runs-on", "after"] {
                let ended = try await corral.request(.DELETE, "/api/sessions/\(id)")
                #expect(ended.status == 200, "\(ended.text)")
            }
            #expect(!ProcessProbe.isAlive(running.json.pid) && !ProcessProbe.isAlive(after.json.pid))
            #expect(corral.log.contains("the template of agent 'voice' failed"), "\(corral.log.suffix(3000))")
        }
    }

    /// A fork gets what a cold agent gets and is held to the same times: the startup timeout of
    /// a `ready: notify` profile and the session's timeout end it.
    @Test func forkedSessionsGetTheSessionsEnvironmentAndTimeouts() async throws {
        try await CrashTestBed.run(containment: .cgroup, extra: ["startup_timeout_seconds": 2]) { bed in
            bed.addTemplateProfile("voice", template: ["startup_timeout_seconds": 60])
            let corral = try await bed.startCorral()
            _ = try await Templates.ready(corral, "voice")
            let events = try await EventStream.open("http://127.0.0.1:\(corral.port)/api/events")
            defer { events.close() }
            let mute = try await Templates.start(corral, #"{"agent": "voice", "session_id": "mute", "metadata": {"ready": "never"}}"#)
            #expect(mute.json["start"] as? String == "fork" && mute.json["status"] as? String == "starting", "\(mute.text)")
            let brief = try await Templates.start(corral, #"{"agent": "voice", "session_id": "brief", "timeout_seconds": 2}"#)
            #expect(brief.json["start"] as? String == "fork", "\(brief.text)")
            // Its environment is the session's: corral's tags and metadata, in os.environ (what
            // it starts carries them in /proc) and for the agent's code. Looked at in a session
            // without a short timeout: on a busy host 2 s can pass before its child is found.
            let tagged = try await Templates.start(corral, #"{"agent": "voice", "session_id": "tagged", "metadata": {"room": "r1"}}"#)
            #expect(tagged.json["start"] as? String == "fork", "\(tagged.text)")
            #expect(try await Templates.log(corral, "tagged", contains: "serving tagged"))
            let ours = await bed.taggedProcesses()
            let children = await ProcessProbe.sessionProcesses("tagged").filter { ours.contains($0) }
            #expect(!children.isEmpty, "the session's child carries CORRAL_SESSION_ID=tagged")
            let environment = try #require(children.first.flatMap(ProcFS.environment))
            #expect(environment["CORRAL_METADATA"] == #"{"room":"r1"}"#)
            #expect(environment["CORRAL_AGENT"] == "voice" && environment["CORRAL_INSTANCE_ID"] == bed.instanceID)
            #expect(environment["CORRAL_TEMPLATE"] == nil && environment["CORRAL_TEMPLATE_FD"] == nil)
            #expect(try await corral.request(.DELETE, "/api/sessions/tagged").status == 200)
            #expect(await Templates.ended(events, "mute")?["reason"] as? String == "startup_timeout")
            #expect(await Templates.ended(events, "brief")?["reason"] as? String == "timeout")
            #expect(!ProcessProbe.isAlive(mute.json.pid) && !ProcessProbe.isAlive(brief.json.pid))
            // `session.ended` goes out as the end finishes; the session leaves the list a moment later.
            #expect(try await ProcessProbe.waitUntil { try await corral.sessions().isEmpty })
        }
    }

    /// A template of a profile with `user` runs as that user, and so do its forks, which still
    /// place themselves in the cgroups corral made (through the descriptors corral opened).
    @Test(.enabled(if: geteuid() == 0, "running agents as another user needs root"))
    func templatesUnderAUser() async throws {
        try await CrashTestBed.run(containment: .cgroup) { bed in
            bed.addTemplateProfile("voice", template: ["memory_limit_mb": 512], extra: ["user": "nobody", "memory_limit_mb": 128])
            let corral = try await bed.startCorral()
            let template = try await Templates.ready(corral, "voice")
            let reply = try await Templates.start(corral, #"{"agent": "voice", "session_id": "as-nobody"}"#)
            try #require(reply.status == 201, "\(reply.text)")
            #expect(reply.json["start"] as? String == "fork")
            #expect(try await Templates.log(corral, "as-nobody", contains: "serving as-nobody"))
            for pid in [Int32(template["pid"] as? Int ?? 0), reply.json.pid] {
                let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
                #expect(status.contains("Uid:\t65534\t65534\t65534\t65534"), "pid \(pid) does not run as nobody")
            }
            #expect(Templates.cgroup(of: reply.json.pid)?.hasSuffix("/s-as-nobody") == true)
            // The session's memory cgroup (v2 or v1) holds its limit.
            let inspection = try await corral.request(.GET, "/api/debug/session/as-nobody/processes").json
            #expect(inspection["memory_bytes"] as? Int ?? Int.max < 128 * Self.megabyte, "\(inspection)")
            let ended = try await corral.request(.DELETE, "/api/sessions/as-nobody")
            #expect(ended.status == 200, "\(ended.text)")
            #expect(!ProcessProbe.isAlive(reply.json.pid))
        }
    }

    /// `prewarm` on a template profile: idle agents forked from the template ahead of time; a
    /// start takes one at once.
    @Test func prewarmOnATemplateForksIdleAgentsAheadOfTime() async throws {
        try await CrashTestBed.run(containment: .cgroup) { bed in
            bed.addTemplateProfile("voice", extra: ["prewarm": 2])
            let corral = try await bed.startCorral()
            let template = try await Templates.ready(corral, "voice")
            func readyIdle() async throws -> [[String: Any]] {
                (try await corral.request(.GET, "/api/prewarm").json["idle"] as? [[String: Any]] ?? []).filter { $0["state"] as? String == "ready" }
            }
            #expect(try await ProcessProbe.waitUntil(timeout: .seconds(90)) { try await readyIdle().count == 2 })
            let idle = try await readyIdle().map { Int32($0["pid"] as? Int ?? 0) }
            #expect(idle.allSatisfy { ProcFS.stat($0)?.ppid == Int32(template["pid"] as? Int ?? 0) }, "idle agents are the template's forks")
            let reply = try await Templates.start(corral, #"{"agent": "voice", "session_id": "warm-1"}"#)
            try #require(reply.status == 201, "\(reply.text)")
            #expect(reply.json["start"] as? String == "warm" && reply.json["status"] as? String == "running")
            #expect(idle.contains(reply.json.pid))
            #expect(try await Templates.log(corral, "warm-1", contains: "serving warm-1 pid=\(reply.json.pid) forked=True warm=True"))
            #expect(try await ProcessProbe.waitUntil(timeout: .seconds(90)) { try await readyIdle().count == 2 }, "the pool refills")
            #expect(try await corral.request(.DELETE, "/api/sessions/warm-1").status == 200)
            #expect(!ProcessProbe.isAlive(reply.json.pid))
        }
    }
}
