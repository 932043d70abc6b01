import Testing

@testable import CorralCore

/// A template's fork queue, without processes: how many requests it takes, that at most
/// `sendsAtOnce` are sent at a time in the order they became ready, and what happens to them when
/// the template goes.
@Suite("Fork queue")
struct ForkQueueTests {
    @Test func admitsUpToItsBound() {
        var queue = ForkQueue(bound: 2)
        #expect(queue.admit(1) == true)
        #expect(queue.admit(2) == true)
        #expect(queue.admit(3) == false, "a start past the bound is refused (503)")
        _ = queue.finished(1)
        #expect(queue.admit(3) == true, "a finished request makes room")
    }

    @Test func oneIsSentAtATimeInTheOrderTheyBecameReady() {
        var queue = ForkQueue(bound: 10, sendsAtOnce: 1)
        for id in UInt64(1)...4 { #expect(queue.admit(id) == true) }
        // Prepared out of order: 3 first (its cgroup was made first), then 1, then 2.
        #expect(queue.prepared(3) == .now)
        #expect(queue.prepared(1) == .later)
        #expect(queue.prepared(2) == .later)
        #expect(queue.inFlight == [3])
        #expect(queue.waiting == 3, "1 and 2 ready, 4 still preparing")
        #expect(queue.finished(3) == 1, "the slot goes to the first that became ready")
        #expect(queue.finished(1) == 2)
        #expect(queue.finished(2) == nil, "4 is not prepared yet")
        #expect(queue.prepared(4) == .now)
        #expect(queue.finished(4) == nil)
        #expect(queue.admitted.isEmpty && queue.inFlight.isEmpty)
    }

    /// The default: a few at once (children placing themselves together share the kernel's wait).
    @Test func severalAreSentAtOnceUpToTheirLimit() {
        #expect(ForkQueue(bound: 10).sendsAtOnce == ForkQueue.sendsAtOnce && ForkQueue.sendsAtOnce > 1)
        var queue = ForkQueue(bound: 10, sendsAtOnce: 2)
        for id in UInt64(1)...4 { #expect(queue.admit(id) == true) }
        #expect(queue.prepared(2) == .now)
        #expect(queue.prepared(1) == .now, "a second slot")
        #expect(queue.prepared(4) == .later)
        #expect(queue.prepared(3) == .later)
        #expect(queue.inFlight == [1, 2] && queue.waiting == 2)
        #expect(queue.finished(2) == 4, "a slot came free: the first that became ready")
        #expect(queue.finished(1) == 3)
        #expect(queue.finished(4) == nil && queue.finished(3) == nil)
        #expect(queue.admitted.isEmpty && queue.inFlight.isEmpty)
    }

    @Test func aRequestGivenUpBeforeItsTurnLeavesTheQueue() {
        var queue = ForkQueue(bound: 10, sendsAtOnce: 1)
        for id in UInt64(1)...3 { _ = queue.admit(id) }
        #expect(queue.prepared(1) == .now)
        #expect(queue.prepared(2) == .later)
        #expect(queue.prepared(3) == .later)
        #expect(queue.finished(2) == nil, "withdrawn while waiting: the slot is still 1's")
        #expect(queue.finished(1) == 3)
    }

    @Test func drainingReturnsWhatWasNotSent() {
        var queue = ForkQueue(bound: 10, sendsAtOnce: 1)
        for id in UInt64(1)...4 { _ = queue.admit(id) }
        #expect(queue.prepared(1) == .now)
        #expect(queue.prepared(2) == .later)
        #expect(queue.drain() == [2, 3, 4], "ready or still preparing: they start another way")
        #expect(queue.prepared(3) == .dropped, "one prepared after the drain is not sent")
        #expect(queue.inFlight == [1], "the request in flight gets its answer from the channel")
        #expect(queue.finished(1) == nil)
        #expect(queue.admitted.isEmpty)
    }
}
