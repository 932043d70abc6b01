import CorralCore
import CorralPlatform
import CorralTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// corral as PID 1, as a container runs it: started by `unshare` in a pid namespace (and /proc) of
/// its own, through a shell that leaves a child of its own session behind before it becomes
/// corral, as a container's entrypoint script may.
@Suite("corral as a container's first process", .serialized)
struct FirstProcessTests {
    static let unshare = "/usr/bin/unshare"
    static let available = geteuid() == 0 && FileManager.default.isExecutableFile(atPath: unshare)

    /// The first process of the namespace `launcher` made: corral, as the host sees it.
    static func firstProcess(below launcher: Int32) -> Int32? {
        ProcFS.children(of: launcher).first { ProcFS.namespacePIDs($0)?.last == 1 }
    }

    /// Every orphan is reaped, its own session's too (nobody else can wait for it); SIGTERM
    /// drains (`/readyz` 503 at once, new sessions 503, a running session may end), and corral
    /// exits 0.
    @Test(.enabled(if: available, "needs root and \(unshare) to start corral as PID 1"))
    func reapsEveryOrphanAndDrainsOnSIGTERM() async throws {
        try await CrashTestBed.run(
            containment: .pidNamespace, extra: ["shutdown": "drain", "drain_timeout_seconds": 30, "user_namespace": "auto"]
        ) { bed in
            let launcher = [Self.unshare, "--pid", "--fork", "--mount-proc", "--kill-child", "/bin/sh", "-c", #"sleep 1000 & exec "$@""#, "sh"]
            let corral = try await CorralProcess.start(config: bed.config, directory: bed.directory, launcher: launcher)
            // unshare ignores SIGTERM (it waits for its child), so the bed cannot stop corral: the
            // test does, and on a failure SIGKILL to unshare takes corral with it (--kill-child).
            do {
                try await Self.check(corral)
            } catch {
                await corral.kill()
                throw error
            }
        }
    }

    /// corral from the moment it serves as PID 1 to its exit.
    static func check(_ corral: CorralProcess) async throws {
        let first = try #require(Self.firstProcess(below: corral.pid), "no first process below unshare \(corral.pid)")
        #expect(ProcFS.commandLine(first)?.contains("serve") == true)
        // The shell's child, in corral's own session, corral's child once the shell became
        // corral; once it exits, nobody but corral can reap it.
        let orphan = try #require(ProcFS.children(of: first).first { ProcFS.commandLine($0) == ["sleep", "1000"] })
        #expect(ProcFS.stat(orphan)?.sid == ProcFS.stat(first)?.sid)
        kill(orphan, SIGKILL)
        #expect(await ProcessProbe.waitUntil(timeout: .seconds(30)) { ProcFS.stat(orphan) == nil }, "the orphan was not reaped")

        let leaving = try await corral.start(#"{"agent": "cooperative"}"#)
        let staying = try await corral.start(#"{"agent": "sleeper"}"#)
        #expect(try await corral.request(.GET, "/readyz").status == 200)
        kill(first, SIGTERM)
        #expect(await ProcessProbe.waitUntil { (try? await corral.request(.GET, "/readyz", timeout: .seconds(2)))?.status == 503 })
        #expect(try await corral.request(.POST, "/api/sessions", body: "{}").status == 503)
        #expect(try await corral.request(.DELETE, "/api/sessions/\(leaving.sessionID)").status == 200)
        #expect(try await corral.request(.GET, "/api/sessions/\(staying.sessionID)").status == 200)
        // The drain waits out its 30 s for the sleeper (long enough for the requests above on a
        // busy host), then ends it.
        let status = await corral.waitForExit(timeout: .seconds(90))
        #expect(status == 0, "corral as PID 1 did not exit cleanly: \(corral.log.suffix(2000))")
        // The bed checks that nothing tagged is left (pids here are the namespace's).
    }
}
