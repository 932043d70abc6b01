@testable import CorralPlatform
import Testing

@testable import CorralCore
@testable import CorralConfiguration

/// The template decisions, with a clock the test moves: one template per profile, started again
/// with backoff after failures, forks only to a ready one, and what a template's end does to the
/// requests waiting for it.
@Suite("Template planner")
struct TemplatePlannerTests {
    static func planner(maxQueuedForks: Int = 64, forking: Bool = true) -> TemplatePlanner {
        var profile = AgentProfile(command: ["/bin/true"])
        var settings = TemplateSettings()
        settings.maxQueuedForks = maxQueuedForks
        profile.template = settings
        return TemplatePlanner(profiles: ["voice": profile, "plain": AgentProfile(command: ["/bin/true"])], forking: forking)
    }

    static func id(_ text: String) -> SessionID { SessionID(text)! }

    @Test func onlyTemplateProfilesHaveOneAndNoneWithoutCgroups() {
        #expect(Self.planner().has("voice"))
        #expect(!Self.planner().has("plain"))
        #expect(Self.planner(forking: false).isEmpty, "with process groups every start is cold")
    }

    @Test func oneTemplateIsStartedPerProfile() {
        var planner = Self.planner()
        let now = ContinuousClock.now
        #expect(planner.nextStep("voice", now: now) == .start)
        planner.launching("voice", id: Self.id("template-1"))
        #expect(planner.nextStep("voice", now: now) == .done, "a launch under way")
        #expect(planner.templates["voice"]?.phase == .starting)
        #expect(planner.readyTemplate("voice") == nil, "warming up: not taking forks")
        #expect(planner.ready("voice", id: Self.id("template-1")) == true)
        #expect(planner.readyTemplate("voice") == Self.id("template-1"))
        #expect(planner.templates["voice"]?.phase == .ready)
        #expect(planner.ready("voice", id: Self.id("template-old")) == false, "READY=1 of another template changes nothing")
    }

    @Test func failuresInARowDoubleTheWaitUpToAMinuteAndReadyResetsIt() {
        var planner = Self.planner()
        let now = ContinuousClock.now
        var delays: [Duration] = []
        for index in 1...8 {
            planner.launching("voice", id: Self.id("template-\(index)"))
            let ending = planner.ending("voice", id: Self.id("template-\(index)"), failure: "it crashed", now: now)
            delays.append(ending?.backoff?.delay ?? .zero)
        }
        #expect(delays == [1, 2, 4, 8, 16, 32, 60, 60].map { Duration.seconds($0) })
        #expect(planner.nextStep("voice", now: now) == .wait(until: now + .seconds(60)))
        #expect(planner.templates["voice"]?.phase == .waiting)
        #expect(planner.templates["voice"]?.lastError == "it crashed")
        #expect(planner.templates["voice"]?.restarts == 7)
        #expect(planner.nextStep("voice", now: now + .seconds(61)) == .start)
        planner.launching("voice", id: Self.id("template-9"))
        #expect(planner.ready("voice", id: Self.id("template-9")) == true)
        #expect(planner.templates["voice"]?.failures == 0)
        #expect(planner.templates["voice"]?.lastError == nil)
        let after = planner.ending("voice", id: Self.id("template-9"), failure: "garbage", now: now)
        #expect(after?.backoff?.delay == .seconds(1), "counting starts over")
    }

    @Test func aLaunchThatFailsIsAFailure() {
        var planner = Self.planner()
        let now = ContinuousClock.now
        planner.launching("voice", id: Self.id("template-1"))
        #expect(planner.launchFailed("voice", id: Self.id("template-1"), why: "no such program", now: now)?.delay == .seconds(1))
        #expect(planner.nextStep("voice", now: now) == .wait(until: now + .seconds(1)))
        // A template that ended while it was launched was counted then: its launch's failure is not counted again.
        planner.launching("voice", id: Self.id("template-2"))
        _ = planner.ending("voice", id: Self.id("template-2"), failure: "it exited", now: now)
        #expect(planner.launchFailed("voice", id: Self.id("template-2"), why: "failed to start", now: now) == nil)
        #expect(planner.templates["voice"]?.failures == 2)
    }

    @Test func anEndCorralDecidedStartsTheNextAtOnce() {
        var planner = Self.planner()
        let now = ContinuousClock.now
        planner.launching("voice", id: Self.id("template-1"))
        let ending = planner.ending("voice", id: Self.id("template-1"), failure: nil, now: now)
        #expect(ending?.backoff == nil)
        #expect(planner.nextStep("voice", now: now) == .start)
        #expect(planner.ending("voice", id: Self.id("template-1"), failure: "late", now: now) == nil, "it was not the profile's template any more")
    }

    @Test func onlyEndsCorralDidNotDecideAreFailures() {
        #expect(TemplatePlanner.isFailure(.exited(.signaled(signal: 9, coreDumped: false))))
        #expect(TemplatePlanner.isFailure(.startupTimeout))
        #expect(TemplatePlanner.isFailure(.templateFailed))
        #expect(TemplatePlanner.isFailure(.memoryLimit))
        #expect(!TemplatePlanner.isFailure(.shutdown))
        #expect(!TemplatePlanner.isFailure(.replaced))
        #expect(!TemplatePlanner.isFailure(.timeout), "its lifetime is up: replaced, not failed")
    }

    @Test func forksGoOnlyToAReadyTemplateUpToTheBound() {
        var planner = Self.planner(maxQueuedForks: 2)
        #expect(planner.admit("voice", request: 1) == .noTemplate, "not started: the start goes cold")
        #expect(planner.admit("plain", request: 1) == .noTemplate)
        planner.launching("voice", id: Self.id("template-1"))
        #expect(planner.admit("voice", request: 1) == .noTemplate, "warming up: cold")
        _ = planner.ready("voice", id: Self.id("template-1"))
        #expect(planner.admit("voice", request: 1) == .admitted)
        #expect(planner.admit("voice", request: 2) == .admitted)
        #expect(planner.admit("voice", request: 3) == .full(bound: 2))
        #expect(planner.prepared("voice", request: 1) == .now)
        #expect(planner.prepared("voice", request: 2) == .now, "sent beside 1 (ForkQueue.sendsAtOnce)")
        #expect(planner.finished("voice", request: 1, forked: true) == nil)
        #expect(planner.finished("voice", request: 2, forked: false) == nil)
        #expect(planner.templates["voice"]?.forks == 1)
        #expect(planner.templates["voice"]?.forkFailures == 1)
    }

    @Test func whenTheTemplateEndsTheRequestsWaitingForItGoCold() {
        var planner = Self.planner()
        let now = ContinuousClock.now
        planner.launching("voice", id: Self.id("template-1"))
        _ = planner.ready("voice", id: Self.id("template-1"))
        let sent = UInt64(ForkQueue.sendsAtOnce)
        for request in UInt64(1)...(sent + 2) { #expect(planner.admit("voice", request: request) == .admitted) }
        for request in UInt64(1)...sent { #expect(planner.prepared("voice", request: request) == .now) }
        #expect(planner.prepared("voice", request: sent + 1) == .later)
        let ending = planner.ending("voice", id: Self.id("template-1"), failure: "it answered garbage", now: now)
        #expect(ending?.waiting == [sent + 1, sent + 2])
        #expect(planner.readyTemplate("voice") == nil)
        #expect(planner.prepared("voice", request: sent + 2) == .dropped, "still preparing when the template went: cold")
        #expect(planner.admit("voice", request: 4) == .noTemplate)
        #expect(planner.finished("voice", request: 1, forked: false) == nil, "the one in flight is answered by the channel")
    }

    @Test func oneKeeperAtATimePerProfile() {
        var planner = Self.planner()
        #expect(planner.beginKeeping() == ["voice"])
        #expect(planner.beginKeeping() == [])
        planner.keepingEnded("voice")
        #expect(planner.beginKeeping() == ["voice"])
    }
}
