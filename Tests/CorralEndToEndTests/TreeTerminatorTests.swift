@testable import CorralPlatform
import CorralTestSupport
import Foundation
import Logging
import Synchronization
import Testing

@testable import CorralCore
@testable import CorralStore

#if canImport(Glibc)
import Glibc
#endif

/// How `TreeTerminator` ends a real tree. White-box: that the SIGKILL phase goes through the
/// tree's `killAll` (`cgroup.kill`) rather than pid by pid cannot be seen from outside, since
/// both end a slow tree; the tree is wrapped to record which way it was reached.
@Suite("Ending a tree")
struct TreeTerminatorTests {
    /// Forwards everything to a real tree and records how SIGKILL reached it.
    final class RecordingTree: ContainedTree {
        let tree: any ContainedTree
        private let calls = Mutex<(killAll: Int, signalledKill: Int)>((0, 0))

        init(_ tree: any ContainedTree) { self.tree = tree }

        var killAllCalls: Int { calls.withLock { $0.killAll } }
        /// SIGKILLs sent through `signalAll`, pid by pid.
        var signalledKills: Int { calls.withLock { $0.signalledKill } }

        var kind: ContainmentKind { tree.kind }
        var leader: PidFD { tree.leader }
        var pgid: Int32 { tree.pgid }
        var leaderStartTime: UInt64? { tree.leaderStartTime }
        var cgroupPath: String? { tree.cgroupPath }
        func watchLeaderExit(_ handler: @escaping ProcessMonitor.ExitHandler) throws(SystemError) { try tree.watchLeaderExit(handler) }
        func signalAll(_ signal: Int32) {
            if signal == SIGKILL { calls.withLock { $0.signalledKill += 1 } }
            tree.signalAll(signal)
        }
        func killAll() {
            calls.withLock { $0.killAll += 1 }
            tree.killAll()
        }
        var isEmpty: Bool { tree.isEmpty }
        var leaderExit: CorralPlatform.ExitStatus? { tree.leaderExit }
        func members() -> ProcessListing { tree.members() }
        func memberGroups() -> [(pid: Int32, pgid: Int32)] { tree.memberGroups() }
        var enforcedLimits: Set<LimitViolation> { tree.enforcedLimits }
        func limitViolation() -> LimitViolation? { tree.limitViolation() }
        func usage(in table: ProcessTable?) -> ResourceUsage { tree.usage(in: table) }
        func track(_ table: ProcessTable) { tree.track(table) }
        var needsProcessTable: Bool { tree.needsProcessTable }
        func release() { tree.release() }
        func detach() { tree.detach() }
        func recognise(_ id: SessionID) { tree.recognise(id) }
        var isKnownNonEmpty: Bool { tree.isKnownNonEmpty }
    }

    /// Starts `ignore-term-everywhere.sh` (it and its children, one of them in a session of its
    /// own, ignore SIGTERM) with `containment`, waits until its children run, and returns the
    /// tree (releasing it stops the watch on its leader).
    private func startIgnorer(
        _ containment: any Containment,
        id: String,
        output: Int32,
        monitor: ProcessMonitor
    ) async throws -> any ContainedTree {
        let launch = AgentLaunch(
            sessionID: SessionID(id)!,
            executable: TestAgents.path("ignore-term-everywhere.sh"),
            arguments: ["ignore-term-everywhere.sh"],
            environment: ["PATH=/usr/bin:/bin", "CORRAL_SESSION_ID=\(id)"],
            outputFD: output,
            limits: ResourceLimits()
        )
        let tree = try containment.launch(launch, monitor: monitor) { tree throws(CorralError) in
            do throws(SystemError) {
                try tree.watchLeaderExit { _ in }
            } catch {
                throw CorralError(.system, "cannot watch the agent", underlying: error)
            }
        }
        // The leader and its two children, at least.
        let started = await ProcessProbe.waitUntil { tree.members().entries.count >= 3 }
        #expect(started, "the agent did not start its children: \(tree.members().entries.map { $0.command })")
        return tree
    }

    /// The end's first step lists the processes it signals, the one that left the group too,
    /// and sends each of them every signal in order: SIGSTOP leaves all of them stopped; SIGSTOP
    /// then SIGCONT leaves them running. The agent's processes are settled first (all forked and
    /// exec'd), so that what is listed is all there is.
    @Test(arguments: CgroupSupport.available ? [ContainmentKind.cgroup, .processGroup] : [.processGroup])
    func theFirstStepOfAnEndListsAndSignalsEveryProcess(_ kind: ContainmentKind) async throws {
        let testRoot = kind == .cgroup ? try CgroupSupport.TestRoot() : nil
        defer { testRoot?.remove() }
        let monitor = ProcessMonitor.shared
        try monitor.start()
        let output = open("/dev/null", O_WRONLY | O_CLOEXEC)
        defer { close(output) }
        let containment: any Containment = testRoot?.containment ?? ProcessGroupContainment()
        let id = "list-and-signal-\(kind.rawValue)"
        let tree = try await containment.launchShell("setsid sleep 1000 & sleep 1000 & wait", id: id, output: output, monitor: monitor)
        defer { tree.release() }
        let settled = await ProcessProbe.waitUntil {
            let groups = tree.memberGroups()
            return groups.count == 3 && groups.filter { $0.pgid != tree.pgid }.count == 1
                && groups.dropFirst().allSatisfy { ProcFS.commandLine($0.pid)?.first == "sleep" }
        }
        try #require(settled, "the agent did not settle: \(tree.memberGroups())")
        let expected = Set(tree.memberGroups().map(\.pid))

        let stopped = tree.listAndSignal([SIGSTOP])
        #expect(Set(stopped.map(\.pid)) == expected)
        #expect(stopped.first?.pid == tree.leader.pid || kind == .cgroup)
        #expect(stopped.filter { $0.pgid != tree.pgid }.count == 1, "the child that left the group: \(stopped)")
        let allStopped = await ProcessProbe.waitUntil { expected.allSatisfy { ProcFS.stat($0)?.state == "T" } }
        #expect(allStopped, "not every process was stopped: \(expected.map { ($0, ProcFS.stat($0)?.state ?? "-") })")

        #expect(Set(tree.listAndSignal([SIGSTOP, SIGCONT]).map(\.pid)) == expected)
        let allRunning = await ProcessProbe.waitUntil { expected.allSatisfy { ProcFS.stat($0).map { $0.state != "T" } ?? false } }
        #expect(allRunning, "SIGCONT did not come last: \(expected.map { ($0, ProcFS.stat($0)?.state ?? "-") })")

        #expect(await TreeTerminator(reaped: monitor.reaped).terminate(tree, grace: .seconds(5)) == .terminated)
        for pid in expected { #expect(!ProcessProbe.isAlive(pid), "process \(pid) survived") }
    }

    @Test(.enabled(if: CgroupSupport.available, "\(CgroupSupport.unavailableReason)"))
    func theKillPhaseOfACgroupTreeUsesCgroupKill() async throws {
        let testRoot = try CgroupSupport.TestRoot()
        defer { testRoot.remove() }
        let (rootPath, root, containment) = (testRoot.path, testRoot.root, testRoot.containment)
        let monitor = ProcessMonitor.shared
        try monitor.start()
        let output = open("/dev/null", O_WRONLY | O_CLOEXEC)
        defer { close(output) }

        let tree = try await startIgnorer(containment, id: "kill-phase", output: output, monitor: monitor)
        try #require(tree.cgroupPath != nil, "the agent did not get a cgroup")
        let recording = RecordingTree(tree)
        let outcome = await TreeTerminator(reaped: monitor.reaped).terminate(recording, grace: .milliseconds(200))

        #expect(outcome == .killed)
        #expect(recording.killAllCalls >= 1, "the SIGKILL phase never called killAll (cgroup.kill)")
        #expect(recording.signalledKills == 0, "the SIGKILL phase signalled pid by pid")
        #expect(tree.isEmpty)
        tree.release()
        root.removeIfUnused()
        #expect(CgroupSupport.leftovers(ofRoot: rootPath).isEmpty)
    }

    @Test func theKillPhaseOfAProcessGroupTreeStillEndsEverything() async throws {
        let monitor = ProcessMonitor.shared
        try monitor.start()
        let output = open("/dev/null", O_WRONLY | O_CLOEXEC)
        defer { close(output) }

        let tree = try await startIgnorer(ProcessGroupContainment(), id: "kill-phase-group", output: output, monitor: monitor)
        let members = tree.members().entries.map(\.pid)
        let outcome = await TreeTerminator(reaped: monitor.reaped).terminate(tree, grace: .milliseconds(200))

        #expect(outcome == .killed)
        #expect(tree.isEmpty)
        for pid in members { #expect(!ProcessProbe.isAlive(pid), "process \(pid) survived") }
        tree.release()
    }
}
