@testable import CorralPlatform
import Testing

@testable import CorralCore

/// The timer schedule's decisions: what is due when, what a cancel or a new setting leaves, and
/// that what it skips does not pile up.
@Suite("Session timers")
struct SessionTimersTests {
    static let start = ContinuousClock.now

    static func key(_ id: String, instance: UInt64 = 1, _ kind: SessionTimers.Kind = .deadline) -> SessionTimers.Key {
        SessionTimers.Key(id: SessionID(id)!, instance: instance, kind: kind)
    }

    static func at(_ seconds: Int) -> ContinuousClock.Instant { start + .seconds(seconds) }

    @Test func timersComeDueInOrderAndOnlyOnce() {
        var timers = SessionTimers()
        timers.schedule(Self.key("late"), at: Self.at(30))
        timers.schedule(Self.key("early"), at: Self.at(10))
        timers.schedule(Self.key("early", .startup), at: Self.at(20))
        #expect(timers.earliest() == Self.at(10))
        #expect(timers.due(at: Self.at(5)).isEmpty)
        #expect(timers.due(at: Self.at(20)) == [Self.key("early"), Self.key("early", .startup)])
        #expect(timers.due(at: Self.at(20)).isEmpty)
        #expect(timers.earliest() == Self.at(30))
        #expect(timers.count == 1)
    }

    @Test func aCancelledTimerNeverComesDue() {
        var timers = SessionTimers()
        timers.schedule(Self.key("a", .startup), at: Self.at(10))
        timers.schedule(Self.key("a"), at: Self.at(20))
        timers.schedule(Self.key("b"), at: Self.at(15))
        timers.cancel(Self.key("a", .startup))
        #expect(timers.earliest() == Self.at(15), "a cancelled timer is not what to wake for")
        timers.cancelAll(id: SessionID("a")!, instance: 1)
        #expect(timers.due(at: Self.at(60)) == [Self.key("b")])
        #expect(timers.earliest() == nil)
    }

    @Test func aNewSettingReplacesTheOldOne() {
        var timers = SessionTimers()
        timers.schedule(Self.key("a"), at: Self.at(10))
        timers.schedule(Self.key("a"), at: Self.at(40))
        #expect(timers.earliest() == Self.at(40))
        #expect(timers.due(at: Self.at(20)).isEmpty, "the old setting is gone")
        #expect(timers.due(at: Self.at(40)) == [Self.key("a")])
    }

    @Test func anotherInstanceOfTheSameIdKeepsItsOwnTimers() {
        var timers = SessionTimers()
        timers.schedule(Self.key("a", instance: 1), at: Self.at(10))
        timers.schedule(Self.key("a", instance: 2), at: Self.at(10))
        timers.cancelAll(id: SessionID("a")!, instance: 1)
        #expect(timers.due(at: Self.at(10)) == [Self.key("a", instance: 2)])
    }

    /// Sessions that end long before their deadline leave their timer behind in the heap; it is
    /// dropped once such timers outnumber the live ones, and the live ones stay.
    @Test func cancelledTimersDoNotPileUp() {
        var timers = SessionTimers()
        timers.schedule(Self.key("keeper"), at: Self.at(100_000))
        for index in 0..<20_000 {
            let key = Self.key("s\(index)")
            timers.schedule(key, at: Self.at(14_400 + index))
            timers.cancel(key)
        }
        #expect(timers.count == 1)
        #expect(timers.heapSize < 2_000, "\(timers.heapSize) entries kept for 1 live timer")
        #expect(timers.due(at: Self.at(100_000)) == [Self.key("keeper")])
    }
}
