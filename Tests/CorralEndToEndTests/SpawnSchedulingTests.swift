@testable import CorralPlatform
import CorralTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// What a start skips waiting for (short_slice.c, the child's own start time in spawn.c) must
/// not change what corral knows of an agent, nor what the agent gets.
@Suite("Spawning an agent: what the start does not wait for")
struct SpawnSchedulingTests {
    private static func sleeper(held: Bool = false) -> SpawnRequest {
        var request = SpawnRequest(executable: "/bin/sleep", arguments: ["sleep", "600"], environment: [], outputFD: 2)
        if held { request.placeBeforeExec = { _ throws(CorralError) in } }
        return request
    }

    /// The start time the vfork-style child read of itself is the one /proc shows once execve is
    /// done (what re-adoption compares); a held child makes no report and /proc is read.
    @Test(arguments: [false, true])
    func theStartTimeIsTheOneProcShows(held: Bool) throws {
        let spawned = try AgentSpawner.spawn(Self.sleeper(held: held))
        defer {
            spawned.pidFD.killAndReap()
            spawned.pidFD.close()
        }
        #expect((spawned.reportedStartTime == nil) == held)
        let fromProc = try #require(ProcFS.stat(spawned.pid)?.startTime)
        #expect(spawned.startTime == fromProc)
    }

    /// The spawner's threads run with the shortest slice so they get the CPU back from the agent
    /// they have just started; the agent itself runs with the default one.
    @Test(.enabled(if: FileManager.default.fileExists(atPath: "/proc/self/sched"), "the kernel shows no scheduler details (CONFIG_SCHED_DEBUG)"))
    func anAgentDoesNotKeepTheSpawnersShortSlice() async throws {
        let (threadSlice, agent) = try await SpawnExecutor.shared.run { () throws -> (UInt64?, PidFD) in
            (Self.slice(of: "/proc/thread-self/sched"), try AgentSpawner.spawn(Self.sleeper()).pidFD)
        }
        defer {
            agent.killAndReap()
            agent.close()
        }
        let agentSlice = try #require(Self.slice(of: "/proc/\(agent.pid)/sched"))
        // Before custom slices (Linux 6.12) the kernel ignores the request: nothing to compare.
        guard Self.kernelAtLeast(6, 12) else { return }
        #expect(threadSlice == 100_000, "the spawner's thread did not get the short slice")
        #expect(agentSlice != 100_000, "the agent inherited the spawner's short slice")
    }

    /// An operator tells the spawner's threads apart from SwiftNIO's and Swift's in `ps -L`.
    @Test func theSpawnersThreadsCarryTheirName() async throws {
        let name = await SpawnExecutor.shared.run { () -> String in
            ((try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        }
        #expect(name.hasPrefix("corral-spawn-"), "\(name)")
    }

    private static func kernelAtLeast(_ major: Int, _ minor: Int) -> Bool {
        var name = utsname()
        guard uname(&name) == 0 else { return false }
        let release = withUnsafeBytes(of: &name.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let parts = release.split(separator: ".").prefix(2).map { Int($0.prefix { $0.isNumber }) ?? 0 }
        return parts.count == 2 && (parts[0], parts[1]) >= (major, minor)
    }

    /// `se.slice` (ns) from a /proc sched file.
    private static func slice(of path: String) -> UInt64? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("se.slice") {
            return line.split(separator: ":").last.flatMap { UInt64($0.trimmingCharacters(in: .whitespaces)) }
        }
        return nil
    }
}
