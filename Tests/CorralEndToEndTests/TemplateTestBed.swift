import CorralCore
import CorralPlatform
import CorralTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Template profiles on a `CrashTestBed` (the real `corral` binary), and what the tests ask of a
/// running corral about them.
extension CrashTestBed {
    /// Adds a profile running `Tests/Fixtures/agents/FILE` with `template` (true or its settings).
    func addTemplateProfile(
        _ name: String, file: String = "template-agent.py", env: [String: String] = [:], template: Any = true, extra: [String: Any] = [:]
    ) {
        var agents = config["agents"] as? [String: Any] ?? [:]
        var profile: [String: Any] = [
            "command": ["/usr/bin/python3", TestAgents.path(file)], "ready": "notify",
            "env": env.merging(["CORRAL_TEST_RUN": tag]) { $1 }, "template": template,
        ]
        profile.merge(extra) { $1 }
        agents[name] = profile
        config["agents"] = agents
    }

    /// A file in the bed's directory, for a session to wait for.
    func trigger(_ name: String) -> String { directory + "/" + name }

    func fire(_ trigger: String) {
        _ = FileManager.default.createFile(atPath: trigger, contents: Data())
    }
}

enum Templates {
    static func all(_ corral: CorralProcess) async throws -> [[String: Any]] {
        try await corral.request(.GET, "/api/templates").json["templates"] as? [[String: Any]] ?? []
    }

    static func of(_ corral: CorralProcess, _ agent: String) async throws -> [String: Any]? {
        try await all(corral).first { $0["agent"] as? String == agent }
    }

    /// The profile's template once it is ready (and, with `notPID`, once it is another one).
    static func ready(_ corral: CorralProcess, _ agent: String, notPID: Int? = nil, timeout: Duration = .seconds(60)) async throws -> [String: Any] {
        var found: [String: Any]?
        let ready = try await ProcessProbe.waitUntil(timeout: timeout) {
            found = try await of(corral, agent)
            return found?["state"] as? String == "ready" && (notPID == nil || found?["pid"] as? Int != notPID)
        }
        guard ready, let found else { throw SystemErrorDescription("the template of \(agent) never got ready: \(found ?? [:])\n\(corral.log.suffix(3000))") }
        return found
    }

    /// `POST /api/sessions`, answered.
    static func start(_ corral: CorralProcess, _ body: String) async throws -> CorralProcess.Reply {
        try await corral.request(.POST, "/api/sessions", body: body, timeout: .seconds(60))
    }

    /// Waits until the session's log has `text`.
    static func log(_ corral: CorralProcess, _ id: String, contains text: String, timeout: Duration = .seconds(30)) async throws -> Bool {
        try await ProcessProbe.waitUntil(timeout: timeout) {
            try await corral.request(.GET, "/api/sessions/\(id)/logs?tail=100").text.contains(text)
        }
    }

    /// The `session.ended` event of `id`, once it arrived.
    static func ended(_ events: EventStream, _ id: String, timeout: Duration = .seconds(30)) async -> [String: Any]? {
        var event: [String: Any]?
        _ = await ProcessProbe.waitUntil(timeout: timeout) {
            event = events.received.first { $0["type"] as? String == "session.ended" && $0["session_id"] as? String == id }
            return event != nil
        }
        return event
    }

    /// The v2 cgroup `/proc/PID/cgroup` shows.
    static func cgroup(of pid: Int32) -> String? {
        ProcFS.cgroupV2(of: pid)
    }
}
