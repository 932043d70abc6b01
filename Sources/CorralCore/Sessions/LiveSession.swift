/// A session the supervisor is running. Owned and mutated only by the `Supervisor` actor.
final class LiveSession {
    /// Distinguishes this session from an earlier one with the same id, for late timer firings
    /// and exit events.
    let instance: UInt64
    let profile: AgentProfile
    var record: SessionRecord
    var lifecycle = SessionLifecycle()
    var tree: (any ContainedTree)?
    var watchToken: UInt64?
    var deadlineTimer: Task<Void, Never>?
    var startupTimer: Task<Void, Never>?
    /// Store writes of this session, chained so they land in order.
    var lastWrite: Task<Bool, Never>?
    var endBegan: ContinuousClock.Instant?
    var leaderExit: ExitStatus?
    var lastOutcome: TerminationOutcome?
    var endWaiters: [CheckedContinuation<EndResult, Never>] = []
    /// The last `STATUS=` the agent sent on the notify socket.
    var statusText: String?
    var warnedAboutMemory = false
    /// The status this session is counted under in the active-sessions gauge.
    var countedStatus: SessionStatus?
    /// `session.started` has been published.
    var announced = false

    init(instance: UInt64, record: SessionRecord, profile: AgentProfile) {
        self.instance = instance
        self.record = record
        self.profile = profile
    }

    func cancelTimers() {
        deadlineTimer?.cancel()
        startupTimer?.cancel()
        deadlineTimer = nil
        startupTimer = nil
    }
}
