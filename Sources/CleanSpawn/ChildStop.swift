#if canImport(Glibc)
import Glibc
#endif

/// Stops a child of this process: SIGTERM, then SIGKILL if it has not exited within `grace`,
/// and reaps it. Waiting polls, so no thread is held while the child winds down.
public func stopChild(_ pid: Int32, grace: Duration = .seconds(10)) async {
    guard pid > 0 else { return }
    kill(pid, SIGTERM)
    if await waitForChild(pid, timeout: grace) == nil {
        kill(pid, SIGKILL)
        _ = waitForChild(pid)
    }
}

/// Waits for a child of this process to exit and reaps it, polling (no thread is held); its exit
/// status (128 + the signal's number when a signal ended it), or nil if it still runs after
/// `timeout`.
public func waitForChild(_ pid: Int32, timeout: Duration) async -> Int32? {
    let deadline = ContinuousClock.now + timeout
    var status: Int32 = 0
    while waitpid(pid, &status, WNOHANG) != pid {
        if ContinuousClock.now >= deadline { return nil }
        try? await Task.sleep(for: .milliseconds(10))
    }
    return exitStatus(status)
}

/// Waits for a child of this process to exit, blocking the calling thread, and reaps it; its exit
/// status as `waitForChild(_:timeout:)` gives it.
public func waitForChild(_ pid: Int32) -> Int32 {
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    return exitStatus(status)
}

private func exitStatus(_ status: Int32) -> Int32 {
    (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
}
