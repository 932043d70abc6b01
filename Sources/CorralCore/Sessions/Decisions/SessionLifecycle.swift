import CorralPlatform
import CorralStore
import CorralConfiguration
/// The life of one session as a value: events in, actions out. The supervisor performs the
/// actions; this type holds no processes, timers or clocks, so every path can be tested alone.
///
/// ```
/// launching ─spawned(exec)──▶ running ─┐
///     │      spawned(notify)▶ starting ─┤ endRequested / deadline / startup timeout / exited
///     └──── endRequested ───────────────┴──▶ stopping(reason) ─terminated─▶ ended(reason)
/// ```
/// The spawn runs off the supervisor, so the leader's exit, or its `READY=1`, may arrive before
/// the spawn's result: either is kept while `launching`, and the spawn then ends the session
/// straight away, or makes it `running` at once.
struct SessionLifecycle: Sendable, Equatable {
    enum State: Sendable, Equatable {
        /// Recorded, not yet spawned.
        case launching
        /// Spawned, waiting for `READY=1`.
        case starting
        case running
        case stopping(EndReason)
        case ended(EndReason)
    }

    enum Event: Sendable, Equatable {
        case spawned(AgentProfile.Readiness)
        /// A session an earlier corral started, taken back with the status it had.
        case adopted(SessionStatus)
        case ready
        case leaderExited(ExitStatus)
        case deadlineReached
        case startupTimedOut
        case limitExceeded(LimitViolation)
        case endRequested(EndReason)
        case terminated
    }

    enum Action: Sendable, Equatable {
        case persist(SessionStatus)
        case startDeadlineTimer
        case startStartupTimer
        case cancelStartupTimer
        case cancelTimers
        /// End the tree (signals, wait for empty).
        case terminate(EndReason)
        /// Forget the session: delete its record, answer waiters.
        case remove(EndReason)
    }

    private(set) var state: State = .launching
    /// The leader's exit, seen while still `launching`.
    private(set) var exitBeforeSpawn: ExitStatus?
    /// `READY=1`, received while still `launching`.
    private(set) var readyBeforeSpawn = false

    /// The status the API shows.
    var status: SessionStatus {
        switch state {
        case .launching, .starting: .starting
        case .running: .running
        case .stopping, .ended: .stopping
        }
    }

    var isStopping: Bool {
        switch state {
        case .stopping, .ended: true
        default: false
        }
    }

    /// Past the insert of its record and before its delete: `launching` may still be inserting
    /// it, `ended` has queued the delete. (A session ended while launching is `stopping` before
    /// its spawn, its insert perhaps under way: whether it was spawned tells.)
    var isRecorded: Bool {
        switch state {
        case .starting, .running, .stopping: true
        case .launching, .ended: false
        }
    }

    mutating func handle(_ event: Event) -> [Action] {
        switch (state, event) {
        case (.launching, .leaderExited(let status)):
            exitBeforeSpawn = status
            return []
        case (.launching, .spawned) where exitBeforeSpawn != nil:
            return stop(.exited(exitBeforeSpawn!))
        case (.launching, .ready):
            readyBeforeSpawn = true
            return []
        case (.launching, .spawned(.notify)) where readyBeforeSpawn:
            state = .running
            return [.persist(.running), .startDeadlineTimer]
        case (.launching, .spawned(.exec)):
            state = .running
            return [.persist(.running), .startDeadlineTimer]
        case (.launching, .spawned(.notify)):
            state = .starting
            return [.persist(.starting), .startDeadlineTimer, .startStartupTimer]
        case (.launching, .endRequested(let reason)):
            // Not spawned yet: the end happens as soon as the spawn returns.
            state = .stopping(reason)
            return []
        case (.stopping(let reason), .spawned):
            return [.terminate(reason)]
        case (.launching, .adopted(.starting)):
            state = .starting
            return [.startDeadlineTimer, .startStartupTimer]
        case (.launching, .adopted(.running)):
            state = .running
            return [.startDeadlineTimer]
        case (.launching, .adopted(.stopping)):
            // corral died while ending it: finish the end.
            return stop(.deleted)

        case (.starting, .ready):
            state = .running
            return [.cancelStartupTimer, .persist(.running)]

        case (.starting, .leaderExited(let status)), (.running, .leaderExited(let status)):
            return stop(.exited(status))
        case (.starting, .deadlineReached), (.running, .deadlineReached):
            return stop(.timeout)
        case (.starting, .startupTimedOut):
            return stop(.startupTimeout)
        case (.starting, .limitExceeded(let violation)), (.running, .limitExceeded(let violation)):
            return stop(EndReason(violation))
        case (.starting, .endRequested(let reason)), (.running, .endRequested(let reason)):
            return stop(reason)

        case (.stopping(let reason), .terminated):
            state = .ended(reason)
            return [.remove(reason)]

        default:
            return []
        }
    }

    private mutating func stop(_ reason: EndReason) -> [Action] {
        state = .stopping(reason)
        return [.cancelTimers, .persist(.stopping), .terminate(reason)]
    }
}
