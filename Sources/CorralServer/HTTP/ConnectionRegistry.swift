import NIOCore
import Synchronization

/// Every open connection and what it is doing, so that at `max_connections` one can make room:
/// without it, whoever holds that many connections open without sending a request (or sending
/// one a byte at a time) keeps every other client out until `idle_timeout_seconds` (or
/// `request_timeout_seconds`) closes them, and opens as many again. `RequestReceptionHandler`
/// reports each connection's activity; `ConnectionCap` asks for room when the cap is reached.
final class ConnectionRegistry: Sendable {
    enum Activity: Int, Comparable {
        /// Between requests, or before its first byte: nothing is lost by closing it.
        case idle
        /// A request is arriving.
        case receiving
        /// A request is being acted on or answered (a start, an end, an event stream): never closed
        /// to make room.
        case answering

        static func < (lhs: Activity, rhs: Activity) -> Bool { lhs.rawValue < rhs.rawValue }
    }

    private struct Entry {
        let channel: any Channel
        var activity: Activity
        var since: ContinuousClock.Instant
    }

    private let entries = Mutex<[ObjectIdentifier: Entry]>([:])
    /// At the cap with nothing to close: looked at again every `retryInterval` until there is.
    private let full = Mutex<(atCap: Bool, retrying: Bool)>((false, false))
    /// A connection is chosen only once its activity has stood this long: one that has just
    /// answered may still have its answer's last bytes to write.
    static let settle: Duration = .milliseconds(100)
    static let retryInterval: Duration = .milliseconds(250)

    func opened(_ channel: any Channel) {
        entries.withLock { $0[ObjectIdentifier(channel)] = Entry(channel: channel, activity: .idle, since: .now) }
    }

    func closed(_ channel: any Channel) {
        _ = entries.withLock { $0.removeValue(forKey: ObjectIdentifier(channel)) }
    }

    func update(_ channel: any Channel, _ activity: Activity) {
        entries.withLock { entries in
            let key = ObjectIdentifier(channel)
            guard entries[key] != nil, entries[key]?.activity != activity else { return }
            entries[key]?.activity = activity
            entries[key]?.since = .now
        }
    }

    /// Closes the connection that has been idle longest, or, with none idle, the one whose
    /// request has been arriving longest (a client sending it a byte at a time). False if every
    /// connection is answering a request.
    @discardableResult
    func makeRoom() -> Bool {
        let settled = ContinuousClock.now - Self.settle
        let chosen: (any Channel)? = entries.withLock { entries in
            var oldest: (key: ObjectIdentifier, entry: Entry)?
            for (key, entry) in entries where entry.activity != .answering && entry.since <= settled {
                if let best = oldest, (best.entry.activity, best.entry.since) <= (entry.activity, entry.since) { continue }
                oldest = (key, entry)
            }
            guard let oldest else { return nil }
            // Counted as closed at once: a second call before it is must choose another.
            entries[oldest.key] = nil
            return oldest.entry.channel
        }
        guard let chosen else { return false }
        // Never at once: the caller may be on that connection's event loop, inside an accept
        // whose count the close would change under it.
        chosen.eventLoop.execute { chosen.close(promise: nil) }
        return true
    }

    /// Whether the cap is reached (`ConnectionCap`). Reaching it, the connection idle longest is
    /// closed; and while it stays reached, one more every `retryInterval`: a connection answering
    /// a request now may be idle in a moment, and new ones wait in the listen queue meanwhile.
    func atCap(_ reached: Bool) {
        let startLooking = full.withLock { full in
            full.atCap = reached
            guard reached, !full.retrying else { return false }
            full.retrying = true
            return true
        }
        if reached { makeRoom() }
        guard startLooking else { return }
        Task {
            while true {
                try? await Task.sleep(for: Self.retryInterval)
                let stop = full.withLock { full in
                    if !full.atCap { full.retrying = false }
                    return !full.atCap
                }
                if stop { return }
                makeRoom()
            }
        }
    }
}
