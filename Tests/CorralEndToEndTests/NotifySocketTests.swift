import CleanSpawn
import CorralCore
import CorralPlatform
import CorralTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// corral's notify socket against another user of the host (issue 26): one who binds what corral
/// binds before corral does must not keep it from starting, after a stop or across a detached
/// upgrade, and agents, of corral's user or another, must still reach it.
@Suite("The notify socket", .serialized)
struct NotifySocketTests {
    @Test(.enabled(if: geteuid() == 0, "the squatter runs as nobody, and so does an agent"))
    func anotherUserCannotKeepCorralFromStarting() async throws {
        try await CrashTestBed.run(containment: .processGroup) { bed in
            Self.addNotifyAgents(to: bed)
            let first = try await bed.startCorral()
            #expect(await first.terminate() == 0)
            bed.corral = nil
            let instanceID = try #require(bed.instanceID)

            let squatter = try Squatter(in: bed.directory, taking: Self.names(instanceID: instanceID, dataDirectory: bed.dataDirectory))
            defer { squatter.stop() }
            let report = try #require(await squatter.report(), "the squatter said nothing")
            #expect(!report.contains("bound \(bed.dataDirectory)"), "another user took corral's socket: \(report)")

            let corral = try await bed.startCorral()
            var info = stat()
            #expect(stat(bed.dataDirectory, &info) == 0 && info.st_mode & 0o7777 == 0o711, "\(String(info.st_mode, radix: 8))")
            #expect(lstat(bed.dataDirectory + "/notify", &info) == 0 && info.st_mode & S_IFMT == S_IFSOCK && info.st_mode & 0o777 == 0o666)
            for agent in ["notify", "notify-as-nobody"] {
                let session = try await corral.start(#"{"agent": "\#(agent)"}"#)
                let running = await ProcessProbe.waitUntil(timeout: .seconds(60)) {
                    (try? await corral.request(.GET, "/api/sessions/\(session.sessionID)"))?.json["status"] as? String == "running"
                }
                #expect(running, "\(agent): \(corral.log.suffix(2000))")
                #expect(try await corral.request(.DELETE, "/api/sessions/\(session.sessionID)").status == 200)
            }
        }
    }

    /// An agent still loading when corral is upgraded (`shutdown: detach`) says READY=1 to the
    /// path it was given: the next corral, bound there again, marks its session running.
    @Test(.enabled(if: geteuid() == 0, "the squatter runs as nobody"))
    func aSessionStartingAcrossADetachedRestartBecomesRunning() async throws {
        try await CrashTestBed.run(containment: .processGroup, extra: ["shutdown": "detach", "startup_timeout_seconds": 300]) { bed in
            Self.addNotifyAgents(to: bed)
            let readyFile = bed.directory + "/ready-now"
            let first = try await bed.startCorral()
            let session = try await first.start(#"{"agent": "notify", "metadata": {"ready_file": "\#(readyFile)"}}"#)
            #expect(session["status"] as? String == "starting")
            #expect(await first.terminate() == 0)
            bed.corral = nil
            #expect(ProcessProbe.isAlive(session.pid), "detach ended the session")

            let instanceID = try #require(bed.instanceID)
            let squatter = try Squatter(in: bed.directory, taking: Self.names(instanceID: instanceID, dataDirectory: bed.dataDirectory))
            defer { squatter.stop() }
            #expect(await squatter.report() != nil, "the squatter said nothing")

            var config = bed.config
            config["shutdown"] = "terminate"
            bed.config = config
            let next = try await bed.startCorral()
            let adopted = try await next.request(.GET, "/api/sessions/\(session.sessionID)")
            #expect(adopted.json["status"] as? String == "starting", "\(adopted.text)")
            #expect(adopted.json["pid"] as? Int == Int(session.pid))
            #expect(FileManager.default.createFile(atPath: readyFile, contents: nil))
            let running = await ProcessProbe.waitUntil(timeout: .seconds(60)) {
                (try? await next.request(.GET, "/api/sessions/\(session.sessionID)"))?.json["status"] as? String == "running"
            }
            #expect(running, "\(next.log.suffix(2000))")
        }
    }

    /// Two `ready: notify` agents, one of corral's user and one running as nobody.
    static func addNotifyAgents(to bed: CrashTestBed) {
        var agents = bed.config["agents"] as? [String: Any] ?? [:]
        let notify: [String: Any] = [
            "command": ["/usr/bin/python3", TestAgents.path("ready-after-delay.py")], "ready": "notify",
            "env": ["CORRAL_TEST_RUN": bed.tag, "READY_DELAY": "0"],
        ]
        agents["notify"] = notify
        agents["notify-as-nobody"] = notify.merging(["user": "nobody"]) { $1 }
        bed.config["agents"] = agents
    }

    /// What a corral with this state binds, or bound before: the abstract name of earlier
    /// versions, and the socket file.
    static func names(instanceID: String, dataDirectory: String) -> [String] {
        ["@corral-notify-\(instanceID)", dataDirectory + "/notify"]
    }
}

/// Another user of the host (nobody) who binds every name it can of `names` first, removing
/// what is there where it may, and holds them until stopped. It reports one line of what it got.
private final class Squatter: Sendable {
    let pid: Int32
    let output: String

    static let script = """
        import os, socket, sys, time
        held, said = [], []
        for name in sys.argv[1:]:
            if not name.startswith("@"):
                try:
                    os.unlink(name)
                except OSError as error:
                    said.append(f"unlink {name}: {error.strerror}")
            s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            try:
                s.bind("\\0" + name[1:] if name.startswith("@") else name)
                held.append(s)
                said.append(f"bound {name}")
            except OSError as error:
                said.append(f"bind {name}: {error.strerror}")
        print("; ".join(said), flush=True)
        time.sleep(3600)
        """

    init(in directory: String, taking names: [String]) throws {
        output = directory + "/squatter-\(UUID().uuidString).out"
        let arguments = ["/usr/bin/setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "/usr/bin/python3", "-c", Self.script] + names
        pid = try spawnChild(arguments, output: .file(output), errors: .standardOutput)
    }

    /// Its line, once it has written it.
    func report() async -> String? {
        var line: String?
        _ = await ProcessProbe.waitUntil(timeout: .seconds(30)) {
            line = (try? String(contentsOfFile: self.output, encoding: .utf8)).flatMap { $0.contains("\n") ? $0 : nil }
            return line != nil
        }
        return line
    }

    /// Kills it by pid and reaps it.
    func stop() {
        kill(pid, SIGKILL)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    }
}
