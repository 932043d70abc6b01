import CorralPlatform
import Synchronization

/// The watch on a tree's leader: the monitor calls a handler once the leader has exited and been
/// reaped. The tree owns it, so releasing or detaching the tree ends the watch too.
///
/// It also keeps the status it told: a tree is empty only once its leader's exit has been told
/// (`awaitingExit`), so that whoever ends the session finds the status with the tree
/// (`exitStatus`) even if the supervisor has not heard it yet.
final class LeaderWatch: Sendable {
    private let monitor: ProcessMonitor
    private let state = Mutex<(token: UInt64?, watching: Bool, exit: ExitStatus?)>((nil, false, nil))

    init(monitor: ProcessMonitor) {
        self.monitor = monitor
    }

    func start(_ leader: PidFD, onExit handler: @escaping ProcessMonitor.ExitHandler) throws(SystemError) {
        let new = try monitor.watch(leader, onExit: recording(handler))
        state.withLock { $0.token = new; $0.watching = true }
    }

    /// For a leader a template forked (`origin`): see `ProcessMonitor.watchForked`.
    func startForked(_ leader: PidFD, origin: UInt64, onExit handler: @escaping ProcessMonitor.ExitHandler) throws(SystemError) {
        let new = try monitor.watchForked(leader, origin: origin, onExit: recording(handler))
        state.withLock { $0.token = new; $0.watching = true }
    }

    func stop() {
        if let old = state.withLock({ state in defer { state.token = nil }; return state.token }) { monitor.unwatch(old) }
    }

    /// How the leader exited, once the monitor has told it.
    var exitStatus: ExitStatus? { state.withLock { $0.exit } }

    /// The watch began and the leader's exit has not been told yet.
    var awaitingExit: Bool { state.withLock { $0.watching && $0.exit == nil } }

    private func recording(_ handler: @escaping ProcessMonitor.ExitHandler) -> ProcessMonitor.ExitHandler {
        { status in
            self.state.withLock { $0.exit = status }
            handler(status)
        }
    }
}
