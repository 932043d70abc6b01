import CorralConfiguration
import CorralCore
import CorralPlatform
import CorralTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Who sends to the notify socket, and what: a process gone a moment later is placed in its
/// session by what was read of it as its datagram arrived; a long datagram is read whole.
@Suite("The notify socket's senders")
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

    /// A READY=1 after a long STATUS= in one datagram is heard: datagrams were read into 4 KiB,
    /// the kernel cut the rest, READY=1 and all, and the session was ended at its startup timeout
    /// (an outside review). Agents that send without pause are not tested here: the tests share
    /// one monitor thread, and their noise slowed every other test's readiness.
    @Test func aReadyAfterALongStatusIsHeard() async throws {
        var corral = TestCorral(configure: { $0.startupTimeoutSeconds = 20 })
        let long = "import os, socket\ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\ns.connect(os.environ['NOTIFY_SOCKET'])\n"
            + "s.send(b'STATUS=' + b'l' * 6000 + b'\\nREADY=1')\nimport time\ntime.sleep(1000)\n"
        corral.configuration.agents["long-status"] = AgentProfile(
            command: ["/usr/bin/python3", "-c", long], environment: ["CORRAL_TEST_RUN": corral.tag], readiness: .notify
        )
        try await corral.run { client in
            let session = try await client.start(#"{"agent": "long-status"}"#)
            let settled = await ProcessProbe.waitUntil(timeout: .seconds(60)) {
                (try? await client.request(.get, "/api/sessions/\(session.id)").json["status"] as? String) != "starting"
            }
            let status = try await client.request(.get, "/api/sessions/\(session.id)").json["status"] as? String
            #expect(settled && status == "running", "\(status ?? "gone")")
            _ = try await client.request(.delete, "/api/sessions/\(session.id)")
            #expect(await session.nothingLeft())
        }
    }
}
