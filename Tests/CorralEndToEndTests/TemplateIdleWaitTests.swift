import CorralCore
import CorralPlatform
import CorralTestSupport
import Foundation
import Testing

/// A start of a template profile with `prewarm` that finds no idle agent ready waits for the one
/// being prepared (forked, still in its `setup()`) instead of forking another, and forks after
/// the template's `fork_timeout_seconds` if it is still not ready. The idle fork's setup is held
/// on a file (`SETUP_WAIT_FOR`), so the start certainly arrives while it is being prepared.
@Suite("Templates: a start waits for the idle agent being prepared", .serialized, .enabled(if: CgroupSupport.available, "\(CgroupSupport.unavailableReason)"))
struct TemplateIdleWaitTests {
    static let waiting = "the session waits for the one being prepared"

    /// The idle fork whose setup is held: its pid, once it is forked and still loading.
    static func loadingIdleAgent(_ corral: CorralProcess) async throws -> Int32 {
        var pid: Int32 = 0
        let found = try await ProcessProbe.waitUntil(timeout: .seconds(30)) {
            let idle = try await corral.request(.GET, "/api/prewarm").json["idle"] as? [[String: Any]] ?? []
            guard let first = idle.first, first["state"] as? String == "loading", let forked = first["pid"] as? Int, forked > 0 else { return false }
            pid = Int32(forked)
            return true
        }
        try #require(found, "no idle agent was forked: \(corral.log.suffix(3000))")
        return pid
    }

    @Test func aStartTakesTheIdleAgentBeingPreparedOnceItIsReady() async throws {
        try await CrashTestBed.run(containment: .cgroup) { bed in
            let setupDone = bed.trigger("setup-done")
            bed.addTemplateProfile("voice", env: ["SETUP_WAIT_FOR": setupDone], extra: ["prewarm": 1])
            let corral = try await bed.startCorral()
            _ = try await Templates.ready(corral, "voice")
            let idle = try await Self.loadingIdleAgent(corral)
            let start = Task { try await Templates.start(corral, #"{"agent": "voice", "session_id": "waits-1"}"#) }
            let waited = await ProcessProbe.waitUntil(timeout: .seconds(30)) { corral.log.contains(Self.waiting) }
            bed.fire(setupDone)
            let reply = try await start.value
            #expect(waited, "the start did not wait for the idle agent: \(corral.log.suffix(3000))")
            try #require(reply.status == 201, "\(reply.text)")
            #expect(reply.json["start"] as? String == "warm" && reply.json["status"] as? String == "running", "\(reply.text)")
            #expect(reply.json.pid == idle, "the session is the idle agent that was being prepared")
            #expect(try await Templates.log(corral, "waits-1", contains: "serving waits-1 pid=\(idle) forked=True warm=True"))
            #expect(try await corral.request(.DELETE, "/api/sessions/waits-1").status == 200)
            #expect(!ProcessProbe.isAlive(idle))
        }
    }

    @Test func aStartForksWhenTheIdleAgentIsNotReadyWithinTheForkTimeout() async throws {
        try await CrashTestBed.run(containment: .cgroup) { bed in
            let setupDone = bed.trigger("setup-done")
            bed.addTemplateProfile("voice", env: ["SETUP_WAIT_FOR": setupDone], template: ["fork_timeout_seconds": 1], extra: ["prewarm": 1])
            let corral = try await bed.startCorral()
            _ = try await Templates.ready(corral, "voice")
            let idle = try await Self.loadingIdleAgent(corral)
            let reply = try await Templates.start(corral, #"{"agent": "voice", "session_id": "waits-2"}"#)
            try #require(reply.status == 201, "\(reply.text)")
            #expect(corral.log.contains(Self.waiting), "the start did not wait for the idle agent first")
            #expect(reply.json["start"] as? String == "fork", "\(reply.text)")
            #expect(reply.json.pid != idle && reply.json.pid > 0)
            bed.fire(setupDone)
            #expect(try await Templates.log(corral, "waits-2", contains: "serving waits-2 pid=\(reply.json.pid) forked=True warm=False"))
            #expect(try await corral.request(.DELETE, "/api/sessions/waits-2").status == 200)
            #expect(!ProcessProbe.isAlive(reply.json.pid))
        }
    }
}
