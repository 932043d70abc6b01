@testable import LiveKitWorkerProtocol
import Testing

/// The connection's phases without sockets or time: instants are made up, the jitter is given.
@Suite("LiveKit worker connection lifecycle")
struct WorkerConnectionLifecycleTests {
    typealias Lifecycle = WorkerConnectionLifecycle
    let start = ContinuousClock.now
    let backoff = ReconnectBackoff(initial: .seconds(1), maximum: .seconds(8), jitter: 0.5)

    func lifecycle(secure: Bool = false) -> Lifecycle {
        Lifecycle(secure: secure, connectTimeout: .seconds(10), closeTimeout: .seconds(3), cutTimeout: .seconds(1), backoff: backoff)
    }

    func at(_ seconds: Double) -> ContinuousClock.Instant { start + .milliseconds(Int(seconds * 1000)) }

    /// A lifecycle whose first attempt has registered (at 1 s).
    func registered() -> Lifecycle {
        var lifecycle = lifecycle()
        _ = lifecycle.handle(.start, now: at(0))
        _ = lifecycle.handle(.tcpConnected(attempt: 1), now: at(0.1))
        _ = lifecycle.handle(.upgraded(attempt: 1), now: at(0.2))
        _ = lifecycle.handle(.registered(attempt: 1), now: at(1))
        return lifecycle
    }

    @Test func aPlainAttemptGoesThroughItsStepsUnderOneDeadline() {
        var lifecycle = lifecycle()
        #expect(lifecycle.phase == .idle)
        #expect(lifecycle.handle(.start, now: at(0)) == [.connect(attempt: 1), .setTimer(at(10))])
        #expect(lifecycle.state == .connecting(attempt: 1, step: .tcpConnect, deadline: at(10)))
        #expect(lifecycle.phase == .connecting)
        #expect(lifecycle.handle(.tcpConnected(attempt: 1), now: at(1)) == [])
        #expect(lifecycle.state == .connecting(attempt: 1, step: .upgrade, deadline: at(10)), "no TLS for ws://")
        #expect(lifecycle.handle(.upgraded(attempt: 1), now: at(2)) == [.sendRegistration(attempt: 1)])
        #expect(lifecycle.state == .connecting(attempt: 1, step: .registration, deadline: at(10)), "the deadline runs from the TCP connect")
        #expect(lifecycle.handle(.registered(attempt: 1), now: at(3)) == [.cancelTimer, .announceRegistration(attempt: 1)])
        #expect(lifecycle.state == .registered(attempt: 1))
        #expect(lifecycle.phase == .registered)
        #expect(lifecycle.handle(.timerFired, now: at(11)) == [], "a registered connection has no deadline")
    }

    @Test func aSecureAttemptWaitsForTheTLSHandshake() {
        var lifecycle = lifecycle(secure: true)
        _ = lifecycle.handle(.start, now: at(0))
        _ = lifecycle.handle(.tcpConnected(attempt: 1), now: at(1))
        #expect(lifecycle.state == .connecting(attempt: 1, step: .tlsHandshake, deadline: at(10)))
        _ = lifecycle.handle(.tlsEstablished(attempt: 1), now: at(2))
        #expect(lifecycle.state == .connecting(attempt: 1, step: .upgrade, deadline: at(10)))
    }

    /// The steps are reported from different tasks: one reported after a later step changes
    /// nothing, and the upgrade's report may come first.
    @Test func aLateStepReportDoesNotGoBack() {
        var lifecycle = lifecycle(secure: true)
        _ = lifecycle.handle(.start, now: at(0))
        #expect(lifecycle.handle(.upgraded(attempt: 1), now: at(1)) == [.sendRegistration(attempt: 1)])
        #expect(lifecycle.handle(.tlsEstablished(attempt: 1), now: at(1)) == [])
        #expect(lifecycle.handle(.tcpConnected(attempt: 1), now: at(1)) == [])
        #expect(lifecycle.handle(.upgraded(attempt: 1), now: at(1)) == [], "the register message is sent once")
        #expect(lifecycle.state == .connecting(attempt: 1, step: .registration, deadline: at(10)))
    }

    @Test(arguments: [
        (Lifecycle.Event.start, WorkerConnectionStep.tcpConnect),
        (.tcpConnected(attempt: 1), .tlsHandshake),
        (.tlsEstablished(attempt: 1), .upgrade),
        (.upgraded(attempt: 1), .registration),
    ])
    func anAttemptStillUnansweredAtItsDeadlineIsCutAndRetried(reached: Lifecycle.Event, step: WorkerConnectionStep) {
        var lifecycle = lifecycle(secure: true)
        for event in [Lifecycle.Event.start, .tcpConnected(attempt: 1), .tlsEstablished(attempt: 1), .upgraded(attempt: 1)] {
            _ = lifecycle.handle(event, now: at(0))
            if event == reached { break }
        }
        #expect(lifecycle.handle(.timerFired, now: at(9.9)) == [], "a timer that fires early changes nothing")
        let reason = WorkerConnectionError.timedOut(step: step, seconds: 10).description
        #expect(
            lifecycle.handle(.timerFired, now: at(10), random: 0) == [
                .cut(attempt: 1),
                .reportFailure(reason: reason, afterRegistration: false, failures: 1, retryIn: .seconds(1)),
                .setTimer(at(11)),
            ]
        )
        #expect(lifecycle.state == .waitingToRetry(until: at(11)))
        #expect(lifecycle.phase == .waitingToRetry)
        // The cut socket's end comes after: it belongs to an attempt given up on.
        #expect(lifecycle.handle(.socketEnded(attempt: 1, reason: "closed"), now: at(10.1)) == [])
        #expect(lifecycle.handle(.timerFired, now: at(11)) == [.connect(attempt: 2), .setTimer(at(21))])
    }

    @Test func theTimedOutStepIsNamed() {
        #expect(WorkerConnectionError.timedOut(step: .upgrade, seconds: 10).description.hasPrefix("LiveKit did not answer the WebSocket upgrade within 10.0 s"))
        #expect(WorkerConnectionError.timedOut(step: .tlsHandshake, seconds: 10).description == "LiveKit did not complete the TLS handshake within 10.0 s")
        #expect(WorkerConnectionError.timedOut(step: .tcpConnect, seconds: 2.5).description == "LiveKit did not accept the TCP connection within 2.5 s")
        #expect(WorkerConnectionError.timedOut(step: .registration, seconds: 1).description == "LiveKit did not answer the worker's registration within 1.0 s")
    }

    /// A server that closes the socket before the upgrade (or refuses it) is retried after the
    /// backoff, not at the deadline; failures in a row lengthen the backoff, a registration
    /// resets it.
    @Test func aClosedSocketIsRetriedWithAGrowingBackoff() {
        var lifecycle = lifecycle()
        _ = lifecycle.handle(.start, now: at(0))
        _ = lifecycle.handle(.tcpConnected(attempt: 1), now: at(0.5))
        #expect(
            lifecycle.handle(.socketEnded(attempt: 1, reason: "gone"), now: at(1), random: 0) == [
                .reportFailure(reason: "gone", afterRegistration: false, failures: 1, retryIn: .seconds(1)), .setTimer(at(2)),
            ]
        )
        #expect(lifecycle.handle(.timerFired, now: at(2)) == [.connect(attempt: 2), .setTimer(at(12))])
        #expect(
            lifecycle.handle(.socketEnded(attempt: 2, reason: "gone"), now: at(3), random: 1) == [
                .reportFailure(reason: "gone", afterRegistration: false, failures: 2, retryIn: .seconds(1)), .setTimer(at(4)),
            ],
            "the second delay is 2 s, half of it taken off by the jitter"
        )
        #expect(lifecycle.handle(.timerFired, now: at(4)) == [.connect(attempt: 3), .setTimer(at(14))])
        _ = lifecycle.handle(.upgraded(attempt: 3), now: at(5))
        _ = lifecycle.handle(.registered(attempt: 3), now: at(6))
        #expect(lifecycle.failures == 0)
        #expect(
            lifecycle.handle(.socketEnded(attempt: 3, reason: "1012"), now: at(7), random: 0) == [
                .reportFailure(reason: "1012", afterRegistration: true, failures: 1, retryIn: .seconds(1)), .setTimer(at(8)),
            ]
        )
    }

    @Test func eventsOfAnotherAttemptAreIgnored() {
        var lifecycle = lifecycle()
        _ = lifecycle.handle(.start, now: at(0))
        #expect(lifecycle.handle(.tcpConnected(attempt: 7), now: at(1)) == [])
        #expect(lifecycle.handle(.upgraded(attempt: 7), now: at(1)) == [])
        #expect(lifecycle.handle(.registered(attempt: 7), now: at(1)) == [])
        #expect(lifecycle.handle(.socketEnded(attempt: 7, reason: "x"), now: at(1)) == [])
        #expect(lifecycle.state == .connecting(attempt: 1, step: .tcpConnect, deadline: at(10)))
        #expect(lifecycle.handle(.registered(attempt: 1), now: at(1)) == [], "no registration before the register message is sent")
    }

    @Test(arguments: [
        [Lifecycle.Event.start],
        [.start, .tcpConnected(attempt: 1)],
        [.start, .tcpConnected(attempt: 1), .upgraded(attempt: 1)],
    ])
    func aStopWhileConnectingCutsTheSocketAtOnce(events: [Lifecycle.Event]) {
        var lifecycle = lifecycle()
        for event in events { _ = lifecycle.handle(event, now: at(0)) }
        #expect(lifecycle.handle(.stop, now: at(2)) == [.cut(attempt: 1), .setTimer(at(3))])
        #expect(lifecycle.state == .stopping(attempt: 1, deadline: at(3)))
        #expect(lifecycle.phase == nil, "shown as what it stops from until stopped")
        #expect(lifecycle.handle(.stop, now: at(2.5)) == [])
        #expect(lifecycle.handle(.timerFired, now: at(2.9)) == [])
        #expect(lifecycle.handle(.socketEnded(attempt: 1, reason: "cut"), now: at(2.1)) == [.cancelTimer, .finish])
        #expect(lifecycle.state == .stopped)
        #expect(lifecycle.phase == .stopped)
        #expect(lifecycle.handle(.timerFired, now: at(20)) == [])
        #expect(lifecycle.handle(.start, now: at(20)) == [.connect(attempt: 2), .setTimer(at(30))], "run again, with a new attempt number")
        #expect(lifecycle.handle(.start, now: at(21)) == [], "a running connection is not started twice")
    }

    @Test func aStopWhileRegisteredClosesWithAHandshakeForAFewSeconds() {
        var lifecycle = registered()
        #expect(lifecycle.handle(.stop, now: at(5)) == [.closeGracefully(attempt: 1), .setTimer(at(8))])
        #expect(lifecycle.handle(.socketEnded(attempt: 1, reason: "closed"), now: at(6)) == [.cancelTimer, .finish])

        var unanswered = registered()
        _ = unanswered.handle(.stop, now: at(5))
        #expect(unanswered.handle(.timerFired, now: at(8)) == [.cut(attempt: 1), .finish], "a close the server does not answer is cut")
        #expect(unanswered.state == .stopped)
        #expect(unanswered.handle(.socketEnded(attempt: 1, reason: "cut"), now: at(8.1)) == [])
    }

    @Test func aStopWithNoSocketStopsAtOnce() {
        var idle = lifecycle()
        #expect(idle.handle(.stop, now: at(0)) == [.cancelTimer, .finish])
        #expect(idle.state == .stopped)

        var waiting = lifecycle()
        _ = waiting.handle(.start, now: at(0))
        _ = waiting.handle(.socketEnded(attempt: 1, reason: "refused"), now: at(1))
        #expect(waiting.handle(.stop, now: at(1.5)) == [.cancelTimer, .finish])
        #expect(waiting.handle(.timerFired, now: at(30)) == [], "the backoff's timer, if it still fires, starts nothing")
    }
}
