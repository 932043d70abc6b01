/// A session the supervisor is running. Owned and mutated only by the `Supervisor` actor.
final class LiveSession {
    /// Distinguishes this session from an earlier one with the same id, for late timer firings
    /// and exit events.
    let instance: UInt64
    let profile: AgentProfile
    let limits: ResourceLimits
    var record: SessionRecord
    var lifecycle = SessionLifecycle()
    var tree: (any ContainedTree)? {
        didSet { isWatched = tree.map { $0.needsProcessTable || limits.memoryBytes != nil || limits.pids != nil } ?? false }
    }
    /// The limit watch has something to look at: a limit to check, or a tree that only the
    /// process table shows (a cgroup keeps escapes in on its own). Kept as a flag because the
    /// watch asks it of every session on every pass, and looking at `tree` (an existential)
    /// each time was most of corral's idle CPU at 10,000 sessions (perf).
    private(set) var isWatched = false
    /// An idle prewarmed agent. Read from the stored `start` field: going through the record's
    /// computed `isIdle` copies the whole record, and lists and the idle-agent gauge ask it of
    /// every session (perf: most of corral's idle CPU at 10,000 sessions with a prewarmed profile).
    var isIdle: Bool { record.start == .idle }
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
    /// Where this session is counted: the active-sessions gauge, or the idle-agents gauge.
    struct Counted: Equatable {
        let idle: Bool
        let status: SessionStatus
    }
    var counted: Counted?
    /// `session.started` has been published.
    var announced = false
    /// A prewarmed agent's channel for being handed its session (nil for cold sessions and for
    /// idle agents adopted after a restart, whose channel died with the earlier corral).
    var assignment: AssignmentChannel?
    /// An idle agent being handed a session: no other request may take it.
    var assigning = false
    /// Ids this session had before (an idle agent's), kept in the supervisor's `aliases`.
    var formerIDs: [SessionID] = []

    init(instance: UInt64, record: SessionRecord, profile: AgentProfile) {
        self.instance = instance
        self.record = record
        self.profile = profile
        self.limits = profile.limits
    }

    func cancelTimers() {
        deadlineTimer?.cancel()
        startupTimer?.cancel()
        deadlineTimer = nil
        startupTimer = nil
    }
}
