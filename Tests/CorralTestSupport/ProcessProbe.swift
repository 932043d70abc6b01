import CorralCore
import CorralPlatform
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
    ///
    /// Reading every descendant's environment takes a while on a busy host: it runs on a thread
    /// of its own, never on the Swift concurrency pool (on Linux, dispatch's default-QoS
    /// threads), whose two threads on this machine must stay free for the timers and actors of
    /// the corrals under test.
    public static func processes(withEnvironment name: String, value: String) async -> [Int32] {
        await descendants { ProcFS.environmentValue($0, name) == value }
    }

    /// The test process's live descendants that `belongs` accepts, read on a thread of its own.
    private static func descendants(where belongs: @escaping @Sendable (Int32) -> Bool) async -> [Int32] {
        await withCheckedContinuation { continuation in
            Thread.detachNewThread {
                let table = ProcessTable.read()
                let pids = table.withDescendants(of: [getpid()]).dropFirst().filter { pid in
                    table.processes[pid]?.isZombie == false && belongs(pid)
                }
                continuation.resume(returning: Array(pids))
            }
        }
    }

    /// Live processes with `argument` among their arguments, anywhere on the host (a process that
    /// escaped its session may have left the test's descendants), read on a thread of its own.
    public static func processes(withArgument argument: String) async -> [Int32] {
        await withCheckedContinuation { continuation in
            Thread.detachNewThread {
                let pids = ProcFS.allPIDs().filter { pid in
                    ProcFS.commandLine(pid)?.contains(argument) == true && ProcFS.stat(pid)?.isZombie == false
                }
                continuation.resume(returning: pids)
            }
        }
    }

    /// Live processes of a corral session, found by the `CORRAL_SESSION_ID` corral gives them.
    ///
    /// Tests run at once and some use the same session ids (`call-1`, `e1`): with `run`, a process
    /// tagged with another test's run (`CORRAL_TEST_RUN`) is not counted, an untagged one still is.
    public static func sessionProcesses(_ id: String, run: String? = nil) async -> [Int32] {
        await descendants { pid in
            guard ProcFS.environmentValue(pid, "CORRAL_SESSION_ID") == id else { return false }
            guard let run, let tag = ProcFS.environmentValue(pid, "CORRAL_TEST_RUN") else { return true }
            return tag == run
        }.filter { isAlive($0) }
    }

    /// SIGKILLs each pid (a test's own leftovers, found by a tag only that test uses).
    public static func kill(_ pids: [Int32]) {
        for pid in pids { Glibc.kill(pid, SIGKILL) }
    }

    /// SIGKILLs each pid and waits until none is alive: a signal is delivered asynchronously, so a
    /// check for leftovers right after `kill` could still see them. Returns whether all are gone.
    @discardableResult
    public static func killAndWait(_ pids: [Int32]) async -> Bool {
        kill(pids)
        return await waitUntil(timeout: .seconds(30)) { pids.allSatisfy { !isAlive($0) } }
    }

    /// Polls `condition` until it holds or `timeout` passes; returns whether it held.
    ///
    /// The timeout counts only time in which tasks got to run: a poll that wakes far later than
    /// it asked for (the concurrency pool, two threads here, was held by blocking work elsewhere
    /// in the test process) adds the lateness to the deadline. Otherwise the poll, woken at the
    /// same moment as the work it waits for, can find the deadline gone before that work had a
    /// thread to run on: seen as "nothing written in 10 s" of a timer due after 0.3 s.
    ///
    /// The default is generous: every caller waits for something that must happen, so a longer
    /// deadline costs time only when a test fails, and CI runs the whole suite at once on two
    /// cores (load averages of 10-15, where an agent's start takes several times its quiet one).
    public static func waitUntil(
        timeout: Duration = .seconds(30),
        every interval: Duration = .milliseconds(100),
        _ condition: () async throws -> Bool
    ) async rethrows -> Bool {
        let clock = ContinuousClock()
        var deadline = clock.now + timeout
        while true {
            if try await condition() { return true }
            if clock.now >= deadline { return false }
            let asleep = clock.now
            try? await Task.sleep(for: interval)
            let late = clock.now - asleep - interval
            if late > .milliseconds(500) {
                deadline += late
                // Whatever was woken beside this poll gets a turn before the condition is asked.
                await Task.yield()
            }
        }
    }
}
