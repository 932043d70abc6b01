import CorralPlatform
/// What the supervisor holds to act on one session: its processes, the watch on its leader, the
/// callers waiting for its end. Effects only: what the session is and may become lives in
/// `SessionTable`, its timers in `SessionTimers`. Owned and touched only by the `Supervisor` actor.
final class SessionHandles {
    var tree: (any ContainedTree)? {
        didSet { isWatched = tree.map { $0.needsProcessTable || limits.memoryBytes != nil || limits.pids != nil } ?? false }
    }
    let limits: ResourceLimits
    /// The limit watch has something to look at: a limit to check, or a tree that only the
    /// process table shows (a cgroup keeps escapes in on its own). Kept as a flag because the
    /// watch asks it of every session on every pass, and looking at `tree` (an existential)
    /// each time was most of corral's idle CPU at 10,000 sessions (perf).
    private(set) var isWatched = false
    /// The leader's exit is watched (an adopted leader's may not be: the sweep looks for it).
    var exitWatched = false
    var endBegan: ContinuousClock.Instant?
    var leaderExit: ExitStatus?
    var lastOutcome: TerminationOutcome?
    var endWaiters: [CheckedContinuation<EndResult, Never>] = []
    /// The last `STATUS=` the agent sent on the notify socket.
    var statusText: String?
    var warnedAboutMemory = false
    /// Variables of the start request for the agent (a job's room token): kept only here.
    var environment: [String: String] = [:]
    /// A prewarmed agent's channel for being handed its session (nil for cold sessions and for
    /// idle agents adopted after a restart, whose channel died with the earlier corral).
    var assignment: AssignmentChannel?
    /// A template's control channel (nil for everything else, and for a template adopted after
    /// a restart: its channel died with the earlier corral).
    var templateChannel: TemplateChannel?
    /// Why corral is ending this template, when it failed in a way its end reason does not say.
    var templateFailure: String?
    /// A fork under way: the session's v2 cgroup as `/proc/PID/cgroup` shows it, so that what
    /// the fork says before its pid is known still finds the session.
    var forkCgroup: String?

    init(limits: ResourceLimits) {
        self.limits = limits
    }

    /// Answers everyone waiting for the end.
    func answerEndWaiters(_ result: EndResult) {
        for waiter in endWaiters { waiter.resume(returning: result) }
        endWaiters.removeAll()
    }
}
