/// One profile's idle prewarmed agents, and how refilling them is paced.
struct PrewarmPool {
    /// How many idle agents the profile wants (`prewarm`).
    let target: Int
    /// Idle agents in the order they were started; the oldest ready one is handed out first.
    var members: [SessionID] = []
    /// Failures in a row (crashed, never ready, did not take a session). Each doubles the wait
    /// before the next spawn, from 1 s up to `maxBackoff`, so a broken agent never respawns in a
    /// tight loop; a `READY=1` resets it.
    private(set) var failures = 0
    private(set) var retryAt: ContinuousClock.Instant?
    /// The task starting idle agents, while one runs (one at a time per profile).
    var refill: Task<Void, Never>?

    static let maxBackoff = Duration.seconds(60)

    init(target: Int) {
        self.target = target
    }

    /// Records a failure; returns how long spawning now waits.
    mutating func failed(now: ContinuousClock.Instant = .now) -> Duration {
        failures += 1
        let delay = min(.seconds(1 << min(failures - 1, 6)), Self.maxBackoff)
        retryAt = now + delay
        return delay
    }

    mutating func succeeded() {
        failures = 0
        retryAt = nil
    }
}
