import Foundation
import Testing

@testable import CorralServer

/// The dashboard's hour of activity, with a clock the test moves.
@Suite("Activity over the last hour")
struct ActivityHistoryTests {
    static let start = Date(timeIntervalSince1970: 1_796_000_040)  // a whole minute

    @Test func eachMinuteKeepsTheMostSeenInIt() {
        var history = ActivityHistory()
        history.record(at: Self.start.addingTimeInterval(5), sessions: 3, jobs: 1)
        history.record(at: Self.start.addingTimeInterval(30), sessions: 7, jobs: 4)
        history.record(at: Self.start.addingTimeInterval(55), sessions: 2, jobs: 0)
        history.record(at: Self.start.addingTimeInterval(65), sessions: 1, jobs: 1)
        let hour = history.lastHour(at: Self.start.addingTimeInterval(70))
        #expect(hour.count == 60)
        #expect(hour.last?.start == Self.start.addingTimeInterval(60))
        #expect(hour.last?.counts?.sessions == 1)
        #expect(hour[58].counts?.sessions == 7 && hour[58].counts?.jobs == 4)
        #expect(hour[57].counts == nil, "nothing recorded then")
    }

    @Test func minutesOlderThanAnHourAreDropped() {
        var history = ActivityHistory()
        for minute in 0..<90 {
            history.record(at: Self.start.addingTimeInterval(Double(minute * 60)), sessions: minute, jobs: 0)
        }
        #expect(history.kept.count == 60)
        let hour = history.lastHour(at: Self.start.addingTimeInterval(89 * 60))
        #expect(hour.first?.counts?.sessions == 30)
        #expect(hour.last?.counts?.sessions == 89)
        // An hour later with nothing recorded, nothing is shown.
        #expect(history.lastHour(at: Self.start.addingTimeInterval(200 * 60)).allSatisfy { $0.counts == nil })
    }
}
