/// The phases of a worker's connection as a value: events in, actions out. `WorkerConnection`
/// carries the actions out (it opens and cuts sockets, sends, runs one timer); this type holds no
/// sockets, tasks or clocks, so every path is tested without them.
///
/// ```
/// idle ─start─▶ connecting(tcpConnect ─▶ tlsHandshake ─▶ upgrade ─▶ registration) ─answer─▶ registered
///                  │ socket ended, or the attempt's deadline            │ socket ended
///                  └────────────────▶ waitingToRetry ◀──────────────────┘
///                               backoff over └──▶ connecting (a new attempt)
/// stop: idle or waiting ─▶ stopped; connecting ─cut the socket─▶ stopping ─▶ stopped;
///       registered ─close handshake─▶ stopping ─▶ stopped (when the socket has ended, or at the
///       stopping deadline, whichever is first)
/// ```
/// Every attempt has one deadline, set when its TCP connect starts, for all its steps up to the
/// registration's answer: a server that takes the connection and then says nothing (to the TLS
/// handshake, the upgrade or the register message) costs at most `connectTimeout`. Events of an
/// attempt carry its number, so what an earlier attempt's socket reports late changes nothing;
/// a step's report that comes after a later step's (they come from different tasks) is ignored.
struct WorkerConnectionLifecycle: Sendable, Equatable {
    typealias Instant = ContinuousClock.Instant

    enum State: Sendable, Equatable {
        case idle
        /// Attempt `attempt` is at `step`; it is given up at `deadline`.
        case connecting(attempt: Int, step: WorkerConnectionStep, deadline: Instant)
        case registered(attempt: Int)
        /// The last attempt failed or the connection dropped; the next attempt starts at `until`.
        case waitingToRetry(until: Instant)
        /// Stopping: waiting for the socket of `attempt` (if one is open) to end, until `deadline`.
        case stopping(attempt: Int?, deadline: Instant)
        case stopped
    }

    enum Event: Sendable, Equatable {
        case start
        case tcpConnected(attempt: Int)
        case tlsEstablished(attempt: Int)
        /// The server answered the upgrade with `101`: the WebSocket is up.
        case upgraded(attempt: Int)
        /// The server accepted the registration.
        case registered(attempt: Int)
        /// The attempt's socket is gone: closed by either side, failed, or refused (`reason`).
        case socketEnded(attempt: Int, reason: String)
        /// The timer set by the last `setTimer` went off (or an earlier one, late).
        case timerFired
        /// Cancellation or graceful shutdown.
        case stop
    }

    enum Action: Sendable, Equatable {
        /// Open a socket for attempt `attempt` and report its steps.
        case connect(attempt: Int)
        case sendRegistration(attempt: Int)
        /// Tell the delegate, report the running jobs and what was held, then send straight away.
        case announceRegistration(attempt: Int)
        /// Close the socket now, without a close handshake.
        case cut(attempt: Int)
        /// Close the WebSocket with a close handshake.
        case closeGracefully(attempt: Int)
        /// The attempt failed, or the registered connection dropped (`afterRegistration`): log it,
        /// tell the delegate, and show when the next attempt is.
        case reportFailure(reason: String, afterRegistration: Bool, failures: Int, retryIn: Duration)
        /// Fire `timerFired` at the instant, instead of at the one set before.
        case setTimer(Instant)
        case cancelTimer
        /// `run()` returns.
        case finish
    }

    /// Whether the connection needs a TLS handshake.
    let secure: Bool
    /// The bound of an attempt, from its TCP connect to the registration's answer.
    let connectTimeout: Duration
    /// How long a stop waits for a registered connection's close handshake.
    let closeTimeout: Duration
    /// How long a stop waits for a socket it cut to be gone.
    let cutTimeout: Duration
    let backoff: ReconnectBackoff

    private(set) var state: State = .idle
    /// Attempts that failed (or connections that ended) in a row since the last registration.
    private(set) var failures = 0
    private var lastAttempt = 0

    init(secure: Bool, connectTimeout: Duration, closeTimeout: Duration, cutTimeout: Duration = .seconds(1), backoff: ReconnectBackoff) {
        self.secure = secure
        self.connectTimeout = connectTimeout
        self.closeTimeout = closeTimeout
        self.cutTimeout = cutTimeout
        self.backoff = backoff
    }

    /// `random` (0..<1) picks the jitter of a backoff delay.
    mutating func handle(_ event: Event, now: Instant, random: Double = Double.random(in: 0..<1)) -> [Action] {
        switch event {
        case .start:
            // `run()` again after it returned starts afresh; attempt numbers go on, so that a
            // socket of the earlier run still ending is not taken for one of this run.
            switch state {
            case .idle, .stopped:
                failures = 0
                return startAttempt(now: now)
            default:
                return []
            }
        case .tcpConnected(let attempt):
            advance(attempt, to: secure ? .tlsHandshake : .upgrade)
            return []
        case .tlsEstablished(let attempt):
            advance(attempt, to: .upgrade)
            return []
        case .upgraded(let attempt):
            return advance(attempt, to: .registration) ? [.sendRegistration(attempt: attempt)] : []
        case .registered(let attempt):
            guard case .connecting(attempt, .registration, _) = state else { return [] }
            state = .registered(attempt: attempt)
            failures = 0
            return [.cancelTimer, .announceRegistration(attempt: attempt)]
        case .socketEnded(let attempt, let reason):
            switch state {
            case .connecting(attempt, _, _):
                return retry(reason, afterRegistration: false, now: now, random: random)
            case .registered(attempt):
                return retry(reason, afterRegistration: true, now: now, random: random)
            case .stopping(.some(attempt), _):
                state = .stopped
                return [.cancelTimer, .finish]
            default:
                return []
            }
        case .timerFired:
            switch state {
            case .connecting(let attempt, let step, let deadline) where now >= deadline:
                let reason = WorkerConnectionError.timedOut(step: step, seconds: connectTimeout.seconds).description
                return [.cut(attempt: attempt)] + retry(reason, afterRegistration: false, now: now, random: random)
            case .waitingToRetry(let until) where now >= until:
                return startAttempt(now: now)
            case .stopping(let attempt, let deadline) where now >= deadline:
                // The socket did not end in time; it is cut and left to end on its own.
                state = .stopped
                return (attempt.map { [.cut(attempt: $0)] } ?? []) + [.finish]
            default:
                return []
            }
        case .stop:
            switch state {
            case .idle, .waitingToRetry:
                state = .stopped
                return [.cancelTimer, .finish]
            case .connecting(let attempt, _, _):
                // Nothing is registered yet: nothing to close politely, and no step to wait for.
                let deadline = now + cutTimeout
                state = .stopping(attempt: attempt, deadline: deadline)
                return [.cut(attempt: attempt), .setTimer(deadline)]
            case .registered(let attempt):
                let deadline = now + closeTimeout
                state = .stopping(attempt: attempt, deadline: deadline)
                return [.closeGracefully(attempt: attempt), .setTimer(deadline)]
            case .stopping, .stopped:
                return []
            }
        }
    }

    /// What operators see: a stopping connection shows the phase it stops from (nil) until it
    /// has stopped.
    var phase: WorkerConnectionState.Phase? {
        switch state {
        case .idle: .idle
        case .connecting: .connecting
        case .registered: .registered
        case .waitingToRetry: .waitingToRetry
        case .stopping: nil
        case .stopped: .stopped
        }
    }

    private mutating func startAttempt(now: Instant) -> [Action] {
        lastAttempt += 1
        let deadline = now + connectTimeout
        state = .connecting(attempt: lastAttempt, step: .tcpConnect, deadline: deadline)
        return [.connect(attempt: lastAttempt), .setTimer(deadline)]
    }

    /// Moves attempt `attempt` forward to `step`; a report of a step it is already past is late.
    @discardableResult
    private mutating func advance(_ attempt: Int, to step: WorkerConnectionStep) -> Bool {
        guard case .connecting(attempt, let current, let deadline) = state, current < step else { return false }
        state = .connecting(attempt: attempt, step: step, deadline: deadline)
        return true
    }

    private mutating func retry(_ reason: String, afterRegistration: Bool, now: Instant, random: Double) -> [Action] {
        failures += 1
        let delay = backoff.delay(afterFailures: failures, random: random)
        state = .waitingToRetry(until: now + delay)
        return [.reportFailure(reason: reason, afterRegistration: afterRegistration, failures: failures, retryIn: delay), .setTimer(now + delay)]
    }
}
