import CorralConfiguration
import CorralCore
import CorralPlatform
import CorralTestSupport
import Foundation
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Who sends to the notify socket: a process gone a moment later is placed in its session by what
/// was read of it as its datagram arrived; one that never stops sending holds nobody up.
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

    /// Noise on the socket does not drown a READY=1: with three agents sending long datagrams
    /// without pause (a 4 KB STATUS= and a READY=1 each), sessions that say READY=1 once become
    /// running (an outside review: 4 of 5 were ended at a 3 s startup timeout, each sender placed
    /// by reading /proc, and a datagram over 4 KiB cut, its READY=1 lost).
    @Test func aReadyIsHeardThroughOthersNoise() async throws {
        var corral = TestCorral(configure: { $0.startupTimeoutSeconds = 20 })
        let noise = "import os, socket\ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\ns.connect(os.environ['NOTIFY_SOCKET'])\n"
            + "m = b'STATUS=' + b's' * 4000 + b'\\nREADY=1'\nwhile True:\n    s.send(m)\n"
        corral.configuration.agents["noisy"] = AgentProfile(
            command: ["/usr/bin/python3", "-c", noise], environment: ["CORRAL_TEST_RUN": corral.tag], readiness: .notify
        )
        let long = "import os, socket\ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\ns.connect(os.environ['NOTIFY_SOCKET'])\n"
            + "s.send(b'STATUS=' + b'l' * 6000 + b'\\nREADY=1')\nimport time\ntime.sleep(1000)\n"
        corral.configuration.agents["long-status"] = AgentProfile(
            command: ["/usr/bin/python3", "-c", long], environment: ["CORRAL_TEST_RUN": corral.tag], readiness: .notify
        )
        try await corral.run { client in
            var noisy: [TestCorral.Session] = []
            for _ in 0..<3 { noisy.append(try await client.start(#"{"agent": "noisy"}"#)) }
            var quiet: [TestCorral.Session] = []
            for _ in 0..<5 { quiet.append(try await client.start(#"{"agent": "ready-after-delay"}"#)) }
            quiet.append(try await client.start(#"{"agent": "long-status"}"#))
            for session in quiet {
                let settled = await ProcessProbe.waitUntil(timeout: .seconds(60)) {
                    (try? await client.request(.get, "/api/sessions/\(session.id)").json["status"] as? String) != "starting"
                }
                let status = try await client.request(.get, "/api/sessions/\(session.id)").json["status"] as? String
                #expect(settled && status == "running", "\(session.id): \(status ?? "gone")")
            }
            for session in noisy + quiet {
                _ = try await client.request(.delete, "/api/sessions/\(session.id)")
                #expect(await session.nothingLeft())
            }
        }
    }

    /// The socket is read on the thread that reaps. An agent sending without pause kept that
    /// thread reading (placing each sender takes longer than sending), and no exit was reaped.
    @Test func anAgentThatNeverStopsSendingHoldsNobodyUp() async throws {
        var corral = TestCorral()
        let flood = "import os, socket\ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\ns.connect(os.environ['NOTIFY_SOCKET'])\n"
            + "s.send(b'READY=1')\nfor _ in range(3):\n    if os.fork() == 0: break\nwhile True:\n    s.send(b'STATUS=flooding')\n"
        corral.configuration.agents["flooder"] = AgentProfile(
            command: ["/usr/bin/python3", "-c", flood], environment: ["CORRAL_TEST_RUN": corral.tag], readiness: .notify
        )
        try await corral.run { client in
            let flooders = [try await client.start(#"{"agent": "flooder"}"#), try await client.start(#"{"agent": "flooder"}"#)]
            for flooder in flooders {
                #expect(try await ProcessProbe.waitUntil {
                    try await client.request(.get, "/api/sessions/\(flooder.id)").json["status"] as? String == "running"
                })
            }
            let done = Mutex(false)
            let cycle = Task {
                for _ in 0..<3 {
                    let session = try await client.start()
                    #expect(try await client.request(.delete, "/api/sessions/\(session.id)").status == .ok)
                }
                done.withLock { $0 = true }
            }
            #expect(await ProcessProbe.waitUntil(timeout: .seconds(60)) { done.withLock { $0 } }, "starts and ends waited behind the datagrams")
            try await cycle.value
            for flooder in flooders {
                #expect(try await client.request(.delete, "/api/sessions/\(flooder.id)").status == .ok)
                #expect(await flooder.nothingLeft())
            }
        }
    }
}
