import CorralCore
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Looks at real processes from a test: which are alive, which belong to a test run, and
/// waiting (with a deadline) for a condition instead of sleeping.
public enum ProcessProbe {
    /// True if a live (non-zombie) process has this pid and, if given, this start time.
    public static func isAlive(_ pid: Int32, startTime: UInt64? = nil) -> Bool {
        guard let stat = ProcFS.stat(pid), !stat.isZombie else { return false }
        return startTime == nil || stat.startTime == startTime
    }

    /// True if any process (zombies included) is still in process group `pgid`.
    public static func groupExists(_ pgid: Int32) -> Bool {
        guard pgid > 1 else { return false }
        return Glibc.kill(-pgid, 0) == 0 || errno == EPERM
    }

    /// Live processes whose environment has `name=value`. Everything a test starts descends
    /// from the test process (which is child subreaper, so orphans come back to it): only its
    /// descendants' environments are read.
    public static func processes(withEnvironment name: String, value: String) -> [Int32] {
        let table = ProcessTable.read()
        return table.withDescendants(of: [getpid()]).dropFirst().filter { pid in
            table.processes[pid]?.isZombie == false && ProcFS.environmentValue(pid, name) == value
        }
    }

    /// Live processes of a corral session, found by the `CORRAL_SESSION_ID` corral gives them.
    public static func sessionProcesses(_ id: String) -> [Int32] {
        processes(withEnvironment: "CORRAL_SESSION_ID", value: id).filter { isAlive($0) }
    }

    /// SIGKILLs each pid (a test's own leftovers, found by a tag only that test uses).
    public static func kill(_ pids: [Int32]) {
        for pid in pids { Glibc.kill(pid, SIGKILL) }
    }

    /// Polls `condition` until it holds or `timeout` passes; returns whether it held.
    public static func waitUntil(
        timeout: Duration = .seconds(10),
        every interval: Duration = .milliseconds(100),
        _ condition: () async throws -> Bool
    ) async rethrows -> Bool {
        let deadline = ContinuousClock.now + timeout
        while true {
            if try await condition() { return true }
            if ContinuousClock.now >= deadline { return false }
            try? await Task.sleep(for: interval)
        }
    }
}
