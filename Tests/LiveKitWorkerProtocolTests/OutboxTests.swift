import Foundation
import Testing

@testable import LiveKitWorkerProtocol

/// Which job statuses a lost connection takes with it: those written after the last ping the
/// server answered.
@Suite("Worker outbox")
struct OutboxTests {
    func status(_ job: String, _ status: Livekit_JobStatus) -> Livekit_UpdateJobStatus {
        .with {
            $0.jobID = job
            $0.status = status
        }
    }

    @Test func whatNoPongProvedReadIsHeldAgain() {
        var outbox = Outbox()
        let now = Date()
        let first = outbox.written(status("AJ_a", .jsSuccess), now: now)
        let second = outbox.written(status("AJ_b", .jsRunning), now: now)
        let third = outbox.written(status("AJ_c", .jsFailed), now: now)
        #expect(first < second && second < third, "stamps increase even within one millisecond")

        outbox.confirmed(through: second)
        outbox.connectionLost()
        #expect(outbox.takeJobUpdates().map(\.jobID) == ["AJ_c"])

        // Once held again, a lost connection does not hold it twice.
        outbox.connectionLost()
        #expect(outbox.takeJobUpdates().isEmpty)
    }

    @Test func aNewerHeldStatusIsNotReplacedByAnOlderUnreadOne() {
        var outbox = Outbox()
        _ = outbox.written(status("AJ_a", .jsRunning))
        outbox.hold(status("AJ_a", .jsSuccess))
        outbox.connectionLost()
        #expect(outbox.takeJobUpdates().map(\.status) == [.jsSuccess])
    }

    @Test func onlyTheLatestUnreadStatusOfAJobIsKept() {
        var outbox = Outbox()
        _ = outbox.written(status("AJ_a", .jsRunning))
        _ = outbox.written(status("AJ_a", .jsSuccess))
        outbox.connectionLost()
        #expect(outbox.takeJobUpdates().map(\.status) == [.jsSuccess])
    }
}
