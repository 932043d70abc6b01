import CorralPlatform
import Synchronization

/// The watch on a tree's leader: the monitor calls a handler once the leader has exited and been
/// reaped. The tree owns it, so releasing or detaching the tree ends the watch too.
final class LeaderWatch: Sendable {
    private let monitor: ProcessMonitor
    private let token = Mutex<UInt64?>(nil)

    init(monitor: ProcessMonitor) {
        self.monitor = monitor
    }

    func start(_ leader: PidFD, onExit handler: @escaping ProcessMonitor.ExitHandler) throws(SystemError) {
        let new = try monitor.watch(leader, onExit: handler)
        token.withLock { $0 = new }
    }

    /// For a leader a template forked (`origin`): see `ProcessMonitor.watchForked`.
    func startForked(_ leader: PidFD, origin: UInt64, onExit handler: @escaping ProcessMonitor.ExitHandler) throws(SystemError) {
        let new = try monitor.watchForked(leader, origin: origin, onExit: handler)
        token.withLock { $0 = new }
    }

    func stop() {
        if let old = token.withLock({ token in defer { token = nil }; return token }) { monitor.unwatch(old) }
    }
}
