import NIOCore
import Synchronization

/// Every open connection and what it is doing, so that room can be made past `max_connections`:
/// without it, whoever holds that many connections open without using them (or sends requests a
/// byte at a time) keeps every other client in the listen queue until `idle_timeout_seconds` (or
/// `request_timeout_seconds`) closes them, and opens as many again. `ConnectionCap` accepts a few
/// connections over the cap and asks for room while over it; `ConnectionActivityHandler` reports
/// what each connection is doing and closes it only if it is still as reported.
final class ConnectionRegistry: Sendable {
    enum Activity: Sendable, Equatable {
        /// No request under way: `used` if one has been answered on it.
        case idle(used: Bool)
        /// Part of a request's head has come.
        case receiving
        /// A request is arriving, acted on or answered (a start, an end, an event stream): never
        /// closed for room.
        case answering
    }

    /// What a connection is doing, as its handler last reported.
    struct Report: Sendable {
        var activity: Activity
        var since: ContinuousClock.Instant
        /// Changes with each report: a close asked for an older one is declined.
        var generation: UInt64
    }

    /// Asks the connection's handler, on its event loop, to close it if its report is still the
    /// one of `generation`.
    typealias Closer = @Sendable (_ generation: UInt64) -> Void

    private struct Entry {
        var report: Report
        let close: Closer
        var closing = false
    }

    /// How long a connection must have been so before it is closed for room: a new connection
    /// sends its first request at once, and one reused its next within a second; a request's head
    /// that takes seconds is sent a byte at a time.
    static let neverUsedFor: Duration = .milliseconds(500)
    static let idleFor: Duration = .seconds(1)
    static let receivingFor: Duration = .seconds(5)
    static let retryInterval: Duration = .milliseconds(250)

    private let entries = Mutex<[ObjectIdentifier: Entry]>([:])
    /// How many connections are open past the cap (`ConnectionCap`), and whether a task looks
    /// for room while there are.
    private let over = Mutex<(excess: Int, looking: Bool)>((0, false))

    func opened(_ channel: any Channel, _ report: Report, close: @escaping Closer) {
        opened(ObjectIdentifier(channel), report, close: close)
    }

    func opened(_ connection: ObjectIdentifier, _ report: Report, close: @escaping Closer) {
        entries.withLock { $0[connection] = Entry(report: report, close: close) }
    }

    func closed(_ channel: any Channel) {
        _ = entries.withLock { $0.removeValue(forKey: ObjectIdentifier(channel)) }
    }

    var isOverCap: Bool { over.withLock { $0.excess > 0 } }

    func update(_ channel: any Channel, _ report: Report) {
        entries.withLock { entries in
            let key = ObjectIdentifier(channel)
            guard entries[key] != nil else { return }
            entries[key]?.report = report
            entries[key]?.closing = false
        }
    }

    /// The connection did not close when asked for `generation` (its report had changed, or
    /// corral was back at the cap): it may be asked again.
    func declined(_ channel: any Channel, generation: UInt64) {
        entries.withLock { entries in
            let key = ObjectIdentifier(channel)
            guard entries[key]?.report.generation == generation else { return }
            entries[key]?.closing = false
        }
    }

    /// How many more connections are open than `max_connections` (`ConnectionCap`). While there
    /// are, as many of the connections idle longest (or never used, or receiving a head, for long
    /// enough) as are not already closing are asked to close, and again every `retryInterval`.
    func overCap(by excess: Int) {
        let startLooking = over.withLock { over in
            over.excess = excess
            guard excess > 0, !over.looking else { return false }
            over.looking = true
            return true
        }
        if excess > 0 { makeRoom() }
        guard startLooking else { return }
        Task {
            while true {
                try? await Task.sleep(for: Self.retryInterval)
                let stop = over.withLock { over in
                    if over.excess == 0 { over.looking = false }
                    return over.excess == 0
                }
                if stop { return }
                makeRoom()
            }
        }
    }

    private func makeRoom() {
        let now = ContinuousClock.now
        let excess = over.withLock { $0.excess }
        guard excess > 0 else { return }
        let chosen: [(Closer, UInt64)] = entries.withLock { entries in
            // A close counted by the cap only later may be asked for one more: a connection
            // idle for long enough, closed a moment early.
            let wanted = excess - entries.values.count(where: \.closing)
            guard wanted > 0 else { return [] }
            let oldest = entries.filter { !$0.value.closing && Self.mayBeClosed($0.value.report, now: now) }
                .sorted { $0.value.report.since < $1.value.report.since }
                .prefix(wanted)
            for (key, _) in oldest { entries[key]?.closing = true }
            return oldest.map { ($0.value.close, $0.value.report.generation) }
        }
        for (close, generation) in chosen { close(generation) }
    }

    private static func mayBeClosed(_ report: Report, now: ContinuousClock.Instant) -> Bool {
        switch report.activity {
        case .idle(used: false): now - report.since >= neverUsedFor
        case .idle(used: true): now - report.since >= idleFor
        case .receiving: now - report.since >= receivingFor
        case .answering: false
        }
    }
}
