import CorralConfiguration
import CorralCore
import CorralPlatform
import CorralTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Readiness said by a process that is gone a moment later: the session it belongs to is known by
/// what was read of it as its datagram arrived.
@Suite("Readiness from short-lived notifiers")
struct NotifySenderTests {
    /// `systemd-notify --ready` in a shell agent of another user sends with its own pid (only a
    /// privileged sender may give its parent's), waits until its `BARRIER=1` is read, and exits;
    /// its shell reaps it at once. Matched later by its pid, the READY=1 was ignored in some
    /// starts and their sessions ended at the startup timeout.
    @Test(.enabled(if: geteuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/systemd-notify"), "the agents run as nobody"))
    func systemdNotifyOfAnotherUserMarksItsSessionRunning() async throws {
        var corral = TestCorral(configure: { $0.startupTimeoutSeconds = 60 })
        var profile = AgentProfile(
            command: ["/bin/sh", "-c", "/usr/bin/systemd-notify --ready && exec sleep 1000"],
            environment: ["CORRAL_TEST_RUN": corral.tag], readiness: .notify
        )
        profile.user = AgentUser(uid: 65534, gid: 65534, groups: [])
        corral.configuration.agents["shell-notify"] = profile
        try await corral.run { client in
            var sessions: [TestCorral.Session] = []
            for _ in 0..<12 { sessions.append(try await client.start(#"{"agent": "shell-notify"}"#)) }
            for session in sessions {
                let settled = await ProcessProbe.waitUntil(timeout: .seconds(90)) {
                    (try? await client.request(.get, "/api/sessions/\(session.id)").json["status"] as? String) != "starting"
                }
                let status = try await client.request(.get, "/api/sessions/\(session.id)").json["status"] as? String
                #expect(settled && status == "running", "\(session.id): \(status ?? "gone")")
            }
            for session in sessions {
                _ = try await client.request(.delete, "/api/sessions/\(session.id)")
                #expect(await session.nothingLeft())
            }
        }
    }
}
