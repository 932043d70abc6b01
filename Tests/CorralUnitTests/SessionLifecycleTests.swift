@testable import CorralCore
import Testing
@testable import CorralStore

@Suite("Session lifecycle state machine")
struct SessionLifecycleTests {
    @Test func execAgentRunsAsSoonAsSpawned() {
        var lifecycle = SessionLifecycle()
        #expect(lifecycle.status == .starting)
        #expect(lifecycle.handle(.spawned(.exec)) == [.persist(.running), .startDeadlineTimer])
        #expect(lifecycle.status == .running)
        #expect(lifecycle.handle(.ready) == [], "READY=1 from an exec agent changes nothing")
    }

    @Test func notifyAgentStartsThenRuns() {
        var lifecycle = SessionLifecycle()
        #expect(lifecycle.handle(.spawned(.notify)) == [.persist(.starting), .startDeadlineTimer, .startStartupTimer])
        #expect(lifecycle.status == .starting)
        #expect(lifecycle.handle(.ready) == [.cancelStartupTimer, .persist(.running)])
        #expect(lifecycle.status == .running)
        #expect(lifecycle.handle(.startupTimedOut) == [], "a late startup timer is ignored once ready")
    }

    @Test func startupTimeoutEndsAStartingAgent() {
        var lifecycle = SessionLifecycle()
        _ = lifecycle.handle(.spawned(.notify))
        #expect(lifecycle.handle(.startupTimedOut) == [.cancelTimers, .persist(.stopping), .terminate(.startupTimeout)])
        #expect(lifecycle.state == .stopping(.startupTimeout))
    }

    @Test(arguments: [
        (SessionLifecycle.Event.deadlineReached, EndReason.timeout),
        (.endRequested(.deleted), .deleted),
        (.leaderExited(.exited(code: 3)), .exited(.exited(code: 3))),
        (.endRequested(.shutdown), .shutdown),
    ])
    func everyEndGoesThroughStopping(event: SessionLifecycle.Event, reason: EndReason) {
        var lifecycle = SessionLifecycle()
        _ = lifecycle.handle(.spawned(.exec))
        #expect(lifecycle.handle(event) == [.cancelTimers, .persist(.stopping), .terminate(reason)])
        #expect(lifecycle.status == .stopping)
        // A second end while stopping does not start another termination.
        #expect(lifecycle.handle(.endRequested(.deleted)) == [])
        #expect(lifecycle.handle(.deadlineReached) == [])
        #expect(lifecycle.handle(.leaderExited(.exited(code: 0))) == [])
        #expect(lifecycle.handle(.terminated) == [.remove(reason)])
        #expect(lifecycle.state == .ended(reason))
        #expect(lifecycle.handle(.terminated) == [])
    }

    @Test func endRequestedBeforeTheSpawnWaitsForIt() {
        var lifecycle = SessionLifecycle()
        #expect(lifecycle.handle(.endRequested(.deleted)) == [])
        #expect(lifecycle.state == .stopping(.deleted))
        #expect(lifecycle.handle(.spawned(.exec)) == [.terminate(.deleted)])
    }

    @Test func anExitSeenWhileLaunchingEndsTheSessionOnceSpawned() {
        var lifecycle = SessionLifecycle()
        #expect(lifecycle.handle(.leaderExited(.exited(code: 7))) == [], "nothing to signal before the spawn has returned")
        #expect(lifecycle.state == .launching)
        #expect(lifecycle.handle(.spawned(.notify)) == [.cancelTimers, .persist(.stopping), .terminate(.exited(.exited(code: 7)))])
        #expect(lifecycle.handle(.terminated) == [.remove(.exited(.exited(code: 7)))])
    }

    @Test func aReadySeenWhileLaunchingMakesTheSessionRunningOnceSpawned() {
        var lifecycle = SessionLifecycle()
        #expect(lifecycle.handle(.ready) == [])
        #expect(lifecycle.state == .launching)
        #expect(lifecycle.handle(.spawned(.notify)) == [.persist(.running), .startDeadlineTimer], "no startup timer: it is ready already")
        #expect(lifecycle.status == .running)
    }
}
