#if canImport(Glibc)
import Glibc
#endif

/// Stops a child of this process: SIGTERM, then SIGKILL if it has not exited within `grace`,
/// and reaps it. Waiting polls, so no thread is held while the child winds down.
public func stopChild(_ pid: Int32, grace: Duration = .seconds(10)) async {
    guard pid > 0 else { return }
    kill(pid, SIGTERM)
    var status: Int32 = 0
    let deadline = ContinuousClock.now + grace
    while waitpid(pid, &status, WNOHANG) != pid {
        if ContinuousClock.now > deadline {
            kill(pid, SIGKILL)
            waitpid(pid, &status, 0)
            return
        }
        try? await Task.sleep(for: .milliseconds(10))
    }
}
