import CorralCore
import CorralPlatform
import Foundation
import Synchronization
import CorralStore

#if canImport(Glibc)
import Glibc
#endif

/// A containment that starts no process: each launch makes a `FakeTree` and the test decides what
/// its processes do (exit, ignore SIGTERM) and when a launch returns. For driving the
/// supervisor's decisions without processes.
public final class FakeContainment: Containment {
    private struct State {
        var trees: [SessionID: FakeTree] = [:]
        var holding = false
        var held: [SessionID: DispatchSemaphore] = [:]
        var failing = false
    }

    private let state = Mutex(State())

    public init() {}

    public var kind: ContainmentKind { .processGroup }

    /// Launches from now on register their tree, then wait for `releaseLaunch` before returning.
    public func holdLaunches() {
        state.withLock { $0.holding = true }
    }

    /// Launches from now on fail (as a program that cannot be executed would).
    public func failLaunches(_ failing: Bool = true) {
        state.withLock { $0.failing = failing }
    }

    /// Whether the launch of `id` is waiting.
    public func isHeld(_ id: SessionID) -> Bool {
        state.withLock { $0.held[id] != nil }
    }

    public func releaseLaunch(_ id: SessionID) {
        state.withLock { state in
            state.holding = false
            return state.held.removeValue(forKey: id)
        }?.signal()
    }

    public func tree(_ id: SessionID) -> FakeTree? {
        state.withLock { $0.trees[id] }
    }

    public func launch(
        _ launch: AgentLaunch,
        monitor: ProcessMonitor,
        register: (any ContainedTree) throws(CorralError) -> Void
    ) throws(CorralError) -> any ContainedTree {
        if state.withLock({ $0.failing }) {
            throw CorralError(.spawnFailed, "the fake containment refuses to start '\(launch.sessionID)'")
        }
        let tree = try FakeTree(sessionID: launch.sessionID)
        try register(tree)
        let gate: DispatchSemaphore? = state.withLock { state in
            state.trees[launch.sessionID] = tree
            guard state.holding else { return nil }
            let gate = DispatchSemaphore(value: 0)
            state.held[launch.sessionID] = gate
            return gate
        }
        gate?.wait()
        return tree
    }

    public func adopt(_ record: SessionRecord, leader: PidFD, limits: ResourceLimits, monitor: ProcessMonitor) -> any ContainedTree {
        (try? FakeTree(sessionID: record.id)) ?? { fatalError("cannot open a pidfd for the test process") }()
    }

    public func cleanUpRemains(of record: SessionRecord, instanceID: String) {}
}

/// A session's processes that exist only as a flag: alive until signalled (or told to exit).
public final class FakeTree: ContainedTree {
    private struct State {
        var alive = true
        var ignoresTerm = false
        var exitHandler: ProcessMonitor.ExitHandler?
        var signals: [Int32] = []
        var releaseGate: DispatchSemaphore?
        var releasing = false
    }

    public let sessionID: SessionID
    /// A pidfd of the test process itself: a real one that never exits, since a tree must have
    /// a leader (fake trees share it, so their "leader pid" is the test's).
    public let leader: PidFD
    private let state = Mutex(State())

    init(sessionID: SessionID) throws(CorralError) {
        self.sessionID = sessionID
        do {
            leader = try PidFD.open(pid: getpid())
        } catch {
            throw CorralError(.system, "cannot open a pidfd for the test process", underlying: error)
        }
    }

    public var kind: ContainmentKind { .processGroup }
    public var pgid: Int32 { leader.pid }
    public var leaderStartTime: UInt64? { nil }
    public var cgroupPath: String? { nil }
    public var enforcedLimits: Set<LimitViolation> { [] }
    public var needsProcessTable: Bool { false }

    /// Its processes ignore SIGTERM (only SIGKILL ends them).
    public func ignoreTerm() {
        state.withLock { $0.ignoresTerm = true }
    }

    /// The leader exits with `status` (and the rest of the tree with it).
    public func exit(_ status: ExitStatus) {
        let handler = state.withLock { state in
            state.alive = false
            return state.exitHandler
        }
        handler?(status)
        ProcessMonitor.shared.reaped.pulse()
    }

    /// The signals the tree was sent, in order.
    public var signals: [Int32] { state.withLock { $0.signals } }

    public func watchLeaderExit(_ handler: @escaping ProcessMonitor.ExitHandler) throws(SystemError) {
        state.withLock { $0.exitHandler = handler }
    }

    public func signalAll(_ signal: Int32) {
        state.withLock { state in
            state.signals.append(signal)
            if signal == SIGKILL || (signal == SIGTERM && !state.ignoresTerm) { state.alive = false }
        }
        ProcessMonitor.shared.reaped.pulse()
    }

    public func killAll() { signalAll(SIGKILL) }

    public var isEmpty: Bool { state.withLock { !$0.alive } }

    /// Told only through the handler (`exit(_:)`).
    public var leaderExit: ExitStatus? { nil }

    public func members() -> ProcessListing { ProcessListing() }

    public func memberGroups() -> [(pid: Int32, pgid: Int32)] { [] }

    public func limitViolation() -> LimitViolation? { nil }

    public func usage(in table: ProcessTable?) -> ResourceUsage { ResourceUsage(memoryBytes: 0, processes: isEmpty ? 0 : 1) }

    public func track(_ table: ProcessTable) {}

    /// `release` from now on blocks (as removing a busy cgroup does) until `finishRelease`.
    public func holdRelease() {
        state.withLock { $0.releaseGate = DispatchSemaphore(value: 0) }
    }

    /// Whether `release` has been called (and, if held, waits).
    public var isReleasing: Bool { state.withLock { $0.releasing } }

    public func finishRelease() {
        state.withLock { $0.releaseGate }?.signal()
    }

    public func release() {
        let gate = state.withLock { state in
            state.releasing = true
            return state.releaseGate
        }
        gate?.wait()
        detach()
    }

    public func detach() {
        state.withLock { $0.exitHandler = nil }
        leader.close()
    }
}
