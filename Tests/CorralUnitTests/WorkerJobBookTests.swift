import CorralCore
import Testing

@testable import CorralServer
@testable import CorralStore

/// The LiveKit worker's decisions, with a clock the test moves: which offers it takes, how
/// long it holds their places, what it reports.
@Suite("LiveKit worker: job decisions")
struct WorkerJobBookTests {
    static let now = ContinuousClock.now
    static let open = WorkerJobBook.Conditions()

    @Test func takesJobsUpToMaxJobsAndHoldsTheirPlaces() {
        var book = WorkerJobBook(limits: .init(maxJobs: 2, loadThreshold: 1.0))
        #expect(book.offered("J1", now: Self.now, Self.open) == .accept)
        #expect(book.load(Self.open) == 0.5)
        #expect(book.offered("J2", now: Self.now, Self.open) == .accept)
        #expect(!book.isAvailable(Self.open), "full at max_jobs")
        #expect(book.offered("J3", now: Self.now, Self.open) != .accept)
        #expect(book.offered("J1", now: Self.now, Self.open) == .accept, "a repeated offer keeps its answer")
    }

    @Test func declinesWhileCorralCannotTakeMore() {
        var book = WorkerJobBook(limits: .init(maxJobs: 5, loadThreshold: 1.0))
        for conditions in [
            WorkerJobBook.Conditions(accepting: false), .init(hasRoom: false), .init(storeReachable: false), .init(hostPressure: 1.0),
        ] {
            #expect(book.offered("J", now: Self.now, conditions) != .accept, "\(conditions)")
            #expect(!book.isAvailable(conditions))
        }
        #expect(book.activeJobs == 0)
    }

    @Test func theLoadIsTheLargerOfJobsAndHostPressure() {
        var book = WorkerJobBook(limits: .init(maxJobs: 4, loadThreshold: 0.7))
        _ = book.offered("J1", now: Self.now, Self.open)
        #expect(book.load(.init(hostPressure: 0.6)) == 0.6)
        #expect(book.load(.init(hostPressure: 0.1)) == 0.25)
        #expect(book.offered("J2", now: Self.now, .init(hostPressure: 0.8)) != .accept, "past load_threshold")
    }

    @Test func aHeldPlaceIsGivenUpWithoutItsAssignment() {
        var book = WorkerJobBook(limits: .init(maxJobs: 1, loadThreshold: 1.0))
        _ = book.offered("J1", now: Self.now, Self.open)
        #expect(book.expire(now: Self.now + .seconds(9)) == [])
        #expect(book.expire(now: Self.now + .seconds(10)) == [WorkerJobBook.sessionID(forJob: "J1")!])
        #expect(book.activeJobs == 0)
        // A late assignment still runs if there is room; otherwise it is refused.
        #expect(book.assigned("J1", Self.open) == .start(WorkerJobBook.sessionID(forJob: "J1")!, reserved: false))
        #expect(book.assigned("J2", Self.open) != .start(WorkerJobBook.sessionID(forJob: "J2")!, reserved: false))
    }

    /// `assignment_timeout_seconds` sets the hold.
    @Test func theHoldIsTheConfiguredOne() {
        var book = WorkerJobBook(limits: .init(maxJobs: 1, loadThreshold: 1.0, assignmentWait: .seconds(30)))
        _ = book.offered("J1", now: Self.now, Self.open)
        #expect(book.expire(now: Self.now + .seconds(29)) == [])
        #expect(book.expire(now: Self.now + .seconds(30)) == [WorkerJobBook.sessionID(forJob: "J1")!])
    }

    @Test func aTerminationBeforeTheAssignmentGivesThePlaceUpAtOnce() {
        var book = WorkerJobBook(limits: .init(maxJobs: 1, loadThreshold: 1.0))
        _ = book.offered("J1", now: Self.now, Self.open)
        #expect(!book.isAvailable(Self.open))
        #expect(book.terminated("J1") == WorkerJobBook.sessionID(forJob: "J1")!)
        #expect(book.activeJobs == 0)
        #expect(book.offered("J2", now: Self.now, Self.open) == .accept, "the place is free before the 10 s wait runs out")
        #expect(book.expire(now: Self.now + .seconds(10)) == [WorkerJobBook.sessionID(forJob: "J2")!], "J1's place is not given up twice")
        // A job that was assigned is ended through its session, not here.
        _ = book.assigned("J3", Self.open)
        #expect(book.terminated("J3") == nil)
        #expect(book.terminated("unknown") == nil)
    }

    @Test func anAssignmentStartsOnceAndRunningIsReportedOnce() {
        var book = WorkerJobBook(limits: .init(maxJobs: 1, loadThreshold: 1.0))
        _ = book.offered("J1", now: Self.now, Self.open)
        #expect(book.running("J1") == nil, "not assigned yet")
        #expect(book.assigned("J1", Self.open) == .start(WorkerJobBook.sessionID(forJob: "J1")!, reserved: true))
        #expect(book.assigned("J1", Self.open) == .duplicate)
        #expect(book.running("J1") == .running)
        #expect(book.running("J1") == nil)
        #expect(book.runningJobIDs == ["J1"])
        #expect(book.ended("J1", reason: .jobTerminated) == .success)
        #expect(book.ended("J1", reason: .jobTerminated) == nil, "reported once")
    }

    @Test(arguments: [
        (EndReason.exited(.exited(code: 0)), WorkerJobBook.Report.success),
        (.deleted, .success), (.roomFinished, .success), (.jobTerminated, .success),
        (.exited(.exited(code: 3)), .failed("agent exit code 3")),
        (.exited(.signaled(signal: 9, coreDumped: false)), .failed("agent signal 9 (SIGKILL)")),
        (.startupTimeout, .failed("the agent did not become ready in time (startup timeout)")),
        (.memoryLimit, .failed("the agent went over its memory limit")),
        (.shutdown, .failed("worker stopped")),
    ])
    func endsAreReportedAsLiveKitExpects(reason: EndReason, report: WorkerJobBook.Report) {
        #expect(WorkerJobBook.report(for: reason) == report)
    }
}
