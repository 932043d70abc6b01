import Foundation

/// Active sessions and LiveKit jobs minute by minute over the last hour, kept in memory for the
/// dashboard's chart: each minute keeps the most seen in it. A value; the time comes from the
/// caller, so tests move it.
struct ActivityHistory: Sendable, Equatable {
    struct Minute: Sendable, Equatable {
        /// The minute's start.
        let start: Date
        var sessions: Int
        var jobs: Int
    }

    static let minutes = 60
    private(set) var kept: [Minute] = []

    /// Counts seen at `now`.
    mutating func record(at now: Date, sessions: Int, jobs: Int) {
        let start = Self.minute(of: now)
        if let last = kept.last, last.start == start {
            kept[kept.count - 1].sessions = max(last.sessions, sessions)
            kept[kept.count - 1].jobs = max(last.jobs, jobs)
        } else {
            kept.append(Minute(start: start, sessions: sessions, jobs: jobs))
        }
        kept.removeAll { $0.start <= start.addingTimeInterval(-Double(Self.minutes * 60)) }
    }

    /// The last hour up to `now`, one entry per minute, oldest first; minutes with nothing
    /// recorded (corral was not running, or had just started) are nil.
    func lastHour(at now: Date) -> [(start: Date, counts: Minute?)] {
        let current = Self.minute(of: now)
        let byStart = Dictionary(kept.map { ($0.start, $0) }, uniquingKeysWith: { $1 })
        return (0..<Self.minutes).reversed().map { back in
            let start = current.addingTimeInterval(-Double(back * 60))
            return (start, byStart[start])
        }
    }

    static func minute(of date: Date) -> Date {
        Date(timeIntervalSince1970: (date.timeIntervalSince1970 / 60).rounded(.down) * 60)
    }
}
