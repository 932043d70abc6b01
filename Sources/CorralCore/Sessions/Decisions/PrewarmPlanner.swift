import CorralPlatform
import CorralConfiguration
import CorralStore
/// Which idle prewarmed agents to start and when, and which one takes a session: each profile
/// with `prewarm: N` wants N idle agents; they are handed out oldest first; failures in a row
/// (an agent that crashed, never got ready or did not take its session) make the next start
/// wait 1 s, 2 s, 4 s … up to a minute, so a broken agent never respawns in a tight loop, and a
/// `READY=1` resets that. A value like `SessionLifecycle`: events in, decisions out, no
/// processes, tasks or clocks of its own (`PrewarmPlannerTests`).
struct PrewarmPlanner {
    struct Pool: Equatable {
        /// How many idle agents the profile wants (`prewarm`).
        let target: Int
        /// Its idle agents in the order they were started.
        var members: [SessionID] = []
        /// Failures in a row.
        var failures = 0
        var retryAt: ContinuousClock.Instant?
        /// A refill is under way (one at a time per profile).
        var refilling = false
    }

    /// What a refill does next.
    enum Step: Equatable {
        /// Start one more idle agent.
        case start
        /// Wait out the backoff after failures, then ask again.
        case wait(until: ContinuousClock.Instant)
        /// The pool is full, or there is no room: the refill ends.
        case done
    }

    static let maxBackoff = Duration.seconds(60)

    private(set) var pools: [String: Pool] = [:]

    init(profiles: [String: AgentProfile]) {
        for (name, profile) in profiles where profile.prewarm > 0 {
            pools[name] = Pool(target: profile.prewarm)
        }
    }

    var targets: [String: Int] { pools.mapValues(\.target) }
    var isEmpty: Bool { pools.isEmpty }

    /// Profiles whose refill should begin now (none is under way); they are marked as refilling.
    mutating func beginRefills() -> [String] {
        var begun: [String] = []
        for agent in pools.keys.sorted() where pools[agent]?.refilling == false {
            pools[agent]?.refilling = true
            begun.append(agent)
        }
        return begun
    }

    mutating func refillEnded(_ agent: String) {
        pools[agent]?.refilling = false
    }

    /// The next step of `agent`'s refill. `waiting` says whether an idle agent is still there and
    /// not being ended (the others are forgotten); `hasRoom` whether `max_sessions` allows one more.
    mutating func nextStep(_ agent: String, now: ContinuousClock.Instant, waiting: (SessionID) -> Bool?, hasRoom: Bool) -> Step {
        guard var pool = pools[agent] else { return .done }
        if let retryAt = pool.retryAt, retryAt > now { return .wait(until: retryAt) }
        pool.members.removeAll { waiting($0) == nil }
        pools[agent] = pool
        let count = pool.members.count { waiting($0) == true }
        return count < pool.target && hasRoom ? .start : .done
    }

    /// An idle agent was started for `agent`.
    mutating func started(_ id: SessionID, agent: String) {
        pools[agent]?.members.append(id)
    }

    /// One of `agent`'s idle agents said `READY=1`: its profile's agents work.
    mutating func ready(_ agent: String) {
        pools[agent]?.failures = 0
        pools[agent]?.retryAt = nil
    }

    /// A failure of `agent`'s idle agents: returns the failures in a row and how long the next
    /// start waits.
    mutating func failed(_ agent: String, now: ContinuousClock.Instant) -> (failures: Int, delay: Duration)? {
        guard var pool = pools[agent] else { return nil }
        pool.failures += 1
        let delay = min(.seconds(1 << min(pool.failures - 1, 6)), Self.maxBackoff)
        pool.retryAt = now + delay
        pools[agent] = pool
        return (pool.failures, delay)
    }

    /// Whether an idle agent ending for `reason` counts as its profile failing: anything but
    /// corral's own decision does.
    static func isFailure(_ reason: EndReason) -> Bool {
        switch reason {
        case .shutdown, .replaced, .deleted, .timeout, .failedToStart: false
        default: true
        }
    }

    /// The oldest of `agent`'s idle agents that `isAvailable` (ready, not being handed a session,
    /// with a channel), taken out of the pool.
    mutating func handOut(_ agent: String, isAvailable: (SessionID) -> Bool) -> SessionID? {
        guard let index = pools[agent]?.members.firstIndex(where: isAvailable) else { return nil }
        return pools[agent]?.members.remove(at: index)
    }
}
