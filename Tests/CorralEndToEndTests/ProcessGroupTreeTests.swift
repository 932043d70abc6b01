@testable import CorralPlatform
import CorralTestSupport
import Foundation
import Testing

@testable import CorralCore

#if canImport(Glibc)
import Glibc
#endif

/// How a process-group session corral started is found at its end: from its leader down and
/// among corral's orphans, never by reading every process on the host.
@Suite("Process-group trees")
struct ProcessGroupTreeTests {
    /// The agent keeps a child in its group, one that left it (`setsid`) and one that left it
    /// and lost its parent (re-parented to the test process, which is child subreaper once the
    /// monitor runs). All are found, signalled and seen gone, and no step of that lists /proc.
    @Test func theEndFindsEveryProcessWithoutAFullScan() async throws {
        let monitor = ProcessMonitor.shared
        try monitor.start()
        let id = "walk-\(UUID().uuidString.prefix(8))"
        let output = AgentSpawnerTests.Output()
        let script = "setsid sleep 1000 & (setsid sleep 1000 &); sleep 1000 & echo END; wait"
        let tree = try await ProcessGroupContainment().launchShell(script, id: id, output: output.fd, monitor: monitor)
        defer { tree.release() }
        let settled = await ProcessProbe.waitUntil { await ProcessProbe.sessionProcesses(id).count == 4 }
        let expected = Set(await ProcessProbe.sessionProcesses(id))
        #expect(settled, "the agent did not start its children: \(expected)")

        let scans = ScanCounter()
        let groups = ProcFS.$scanCounter.withValue(scans) { tree.memberGroups() }
        #expect(Set(groups.map(\.pid)) == expected)
        #expect(groups.first?.pid == tree.leader.pid)
        #expect(groups.filter { $0.pgid != tree.pgid }.count == 2, "\(groups)")
        let listed = ProcFS.$scanCounter.withValue(scans) { tree.members() }
        #expect(Set(listed.entries.map(\.pid)) == expected)

        let ended = ProcFS.$scanCounter.withValue(scans) { () -> Bool in
            guard !tree.isEmpty else { return false }
            tree.signalAll(SIGKILL)
            return OwnThread.poll { tree.isEmpty }
        }
        #expect(ended, "the session's processes were not all ended")
        let survivors = await ProcessProbe.sessionProcesses(id)
        ProcessProbe.kill(survivors)
        #expect(survivors.isEmpty, "processes survived: \(survivors)")
        #expect(scans.value == 0, "the end path read every process \(scans.value) times")
    }

    /// A child the agent never waits for is listed as `ps` shows it, exited: `[sleep] <defunct>`.
    @Test func anUnreapedChildIsListedAsDefunct() async throws {
        let monitor = ProcessMonitor.shared
        try monitor.start()
        let id = "defunct-\(UUID().uuidString.prefix(8))"
        let output = AgentSpawnerTests.Output()
        let tree = try await ProcessGroupContainment().launchShell("sleep 0 & exec sleep 1000", id: id, output: output.fd, monitor: monitor)
        defer {
            tree.killAll()
            _ = OwnThread.poll { tree.isEmpty }
            tree.release()
        }
        let leader = tree.leader.pid
        #expect(await ProcessProbe.waitUntil {
            ProcFS.children(of: leader).contains { ProcFS.stat($0)?.isZombie == true }
        }, "a zombie below the agent")
        let commands = tree.members().entries.map(\.command)
        #expect(commands == ["sleep 1000", "[sleep] <defunct>"], "\(commands)")
    }
}
