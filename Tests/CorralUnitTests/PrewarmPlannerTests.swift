@testable import CorralPlatform
import Testing

@testable import CorralCore
@testable import CorralConfiguration

/// The prewarm decisions, with a clock the test moves: what to start, when to wait, which idle
/// agent takes a session.
@Suite("Prewarm planner")
struct PrewarmPlannerTests {
    static func planner(prewarm: Int = 2) -> PrewarmPlanner {
        var profile = AgentProfile(command: ["/bin/true"])
        profile.prewarm = prewarm
        return PrewarmPlanner(profiles: ["voice": profile, "plain": AgentProfile(command: ["/bin/true"])])
    }

    static func id(_ text: String) -> SessionID { SessionID(text)! }

    @Test func onlyPrewarmedProfilesHavePools() {
        #expect(Self.planner().targets == ["voice": 2])
    }

    @Test func startsUntilTheTargetIsWaitingAndThereIsRoom() {
        var planner = Self.planner()
        let now = ContinuousClock.now
        #expect(planner.nextStep("voice", now: now, waiting: { _ in true }, hasRoom: true) == .start)
        planner.started(Self.id("idle-1"), agent: "voice")
        #expect(planner.nextStep("voice", now: now, waiting: { _ in true }, hasRoom: false) == .done, "max_sessions comes first")
        planner.started(Self.id("idle-2"), agent: "voice")
        #expect(planner.nextStep("voice", now: now, waiting: { _ in true }, hasRoom: true) == .done)
        // One is being ended, one is gone: two more are wanted, and the gone one is forgotten.
        let state: [SessionID: Bool] = [Self.id("idle-1"): false]
        #expect(planner.nextStep("voice", now: now, waiting: { state[$0] }, hasRoom: true) == .start)
        #expect(planner.pools["voice"]?.members == [Self.id("idle-1")])
    }

    @Test func failuresInARowDoubleTheWaitUpToAMinute() {
        var planner = Self.planner()
        let now = ContinuousClock.now
        let delays = (1...8).map { _ in planner.failed("voice", now: now)!.delay }
        #expect(delays == [1, 2, 4, 8, 16, 32, 60, 60].map { Duration.seconds($0) })
        #expect(planner.nextStep("voice", now: now, waiting: { _ in true }, hasRoom: true) == .wait(until: now + .seconds(60)))
        #expect(planner.nextStep("voice", now: now + .seconds(61), waiting: { _ in true }, hasRoom: true) == .start)
    }

    @Test func aReadyAgentEndsTheBackoff() {
        var planner = Self.planner()
        let now = ContinuousClock.now
        _ = planner.failed("voice", now: now)
        _ = planner.failed("voice", now: now)
        planner.ready("voice")
        #expect(planner.nextStep("voice", now: now, waiting: { _ in true }, hasRoom: true) == .start)
        #expect(planner.failed("voice", now: now)?.delay == .seconds(1), "counting starts over")
    }

    @Test func theOldestAvailableAgentTakesTheSession() {
        var planner = Self.planner(prewarm: 3)
        for name in ["idle-1", "idle-2", "idle-3"] { planner.started(Self.id(name), agent: "voice") }
        #expect(planner.handOut("voice", isAvailable: { $0 != Self.id("idle-1") }) == Self.id("idle-2"))
        #expect(planner.pools["voice"]?.members == [Self.id("idle-1"), Self.id("idle-3")])
        #expect(planner.handOut("voice", isAvailable: { _ in false }) == nil)
        #expect(planner.handOut("plain", isAvailable: { _ in true }) == nil)
    }

    @Test func onlyEndsCorralDidNotDecideAreFailures() {
        #expect(PrewarmPlanner.isFailure(.exited(.exited(code: 1))))
        #expect(PrewarmPlanner.isFailure(.startupTimeout))
        #expect(PrewarmPlanner.isFailure(.assignFailed))
        #expect(!PrewarmPlanner.isFailure(.shutdown))
        #expect(!PrewarmPlanner.isFailure(.replaced))
    }

    @Test func oneRefillAtATimePerProfile() {
        var planner = Self.planner()
        #expect(planner.beginRefills() == ["voice"])
        #expect(planner.beginRefills() == [])
        planner.refillEnded("voice")
        #expect(planner.beginRefills() == ["voice"])
    }
}
