import NIOCore
import Synchronization

/// Every open connection and what it is doing, so that room can be made past `max_connections`:
/// without it, whoever holds that many connections open without using them (or sends requests a
/// byte at a time) keeps every other client in the listen queue until `idle_timeout_seconds` (or
/// `request_timeout_seconds`) closes them, and opens as many again. `ConnectionCap` accepts one
/// connection over the cap and asks for room while over it; `ConnectionActivityHandler` reports
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

    /// How long a connection must have been so before it is closed for room: a client reusing a
    /// connection sends its next request within a second, and a new one its first; a request's
    /// head that takes seconds is sent a byte at a time.
    static let idleFor: Duration = .seconds(1)
    static let receivingFor: Duration = .seconds(5)
    static let retryInterval: Duration = .milliseconds(250)

    private let entries = Mutex<[ObjectIdentifier: Entry]>([:])
    private let over = Mutex<(overCap: Bool, looking: Bool)>((false, false))
    /// A connection closed for room is gone from `entries` before `ConnectionCap` has counted its
    /// close (on the server's event loop): until then no other is chosen, for a second at most
    /// (should the count come first, this is not left set).
    private let uncounted = Mutex<ContinuousClock.Instant?>(nil)

    func opened(_ channel: any Channel, _ report: Report, close: @escaping Closer) {
        entries.withLock { $0[ObjectIdentifier(channel)] = Entry(report: report, close: close) }
    }

    func closed(_ channel: any Channel) {
        let wasChosen = entries.withLock { $0.removeValue(forKey: ObjectIdentifier(channel))?.closing ?? false }
        if wasChosen { uncounted.withLock { $0 = .now } }
    }

    /// `ConnectionCap` has counted a close.
    func closeCounted() {
        uncounted.withLock { $0 = nil }
    }

    var isOverCap: Bool { over.withLock { $0.overCap } }

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

    /// Whether more connections are open than `max_connections` (`ConnectionCap`). While so, the
    /// connection idle longest (or never used, or receiving a head, for long enough) is asked to
    /// close, one at a time, again every `retryInterval`.
    func overCap(_ isOver: Bool) {
        let startLooking = over.withLock { over in
            over.overCap = isOver
            guard isOver, !over.looking else { return false }
            over.looking = true
            return true
        }
        if isOver { makeRoom() }
        guard startLooking else { return }
        Task {
            while true {
                try? await Task.sleep(for: Self.retryInterval)
                let stop = over.withLock { over in
                    if !over.overCap { over.looking = false }
                    return !over.overCap
                }
                if stop { return }
                makeRoom()
            }
        }
    }

    private func makeRoom() {
        let now = ContinuousClock.now
        guard isOverCap, uncounted.withLock({ $0.map { now - $0 >= .seconds(1) } ?? true }) else { return }
        let chosen: (Closer, UInt64)? = entries.withLock { entries in
            // One at a time: the next only once this one has closed or declined.
            guard !entries.values.contains(where: \.closing) else { return nil }
            var oldest: (key: ObjectIdentifier, report: Report)?
            for (key, entry) in entries {
                let report = entry.report
                let eligible =
                    switch report.activity {
                    case .idle: now - report.since >= Self.idleFor
                    case .receiving: now - report.since >= Self.receivingFor
                    case .answering: false
                    }
                guard eligible else { continue }
                if let best = oldest, best.report.since <= report.since { continue }
                oldest = (key, report)
            }
            guard let oldest, let entry = entries[oldest.key] else { return nil }
            entries[oldest.key]?.closing = true
            return (entry.close, oldest.report.generation)
        }
        if let (close, generation) = chosen { close(generation) }
    }
}
