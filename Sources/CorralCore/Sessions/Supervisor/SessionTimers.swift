import CorralPlatform
import HeapModule

/// The sessions' timers (each session's deadline and startup timeout) as one schedule: the
/// supervisor sleeps until the earliest of them, instead of keeping a sleeping task per timer
/// (a task is kilobytes; 10,000 sessions held tens of megabytes of them). A value the supervisor
/// owns; it decides nothing but what is due.
///
/// A cancelled or replaced timer stays in the heap and is skipped when it comes up (removing it
/// would mean a search); the heap is rebuilt once the skipped ones outnumber the live ones, so a
/// corral whose sessions mostly end long before their deadline does not keep them all.
struct SessionTimers {
    enum Kind: Hashable, Sendable {
        case deadline
        case startup
    }

    struct Key: Hashable, Sendable {
        let id: SessionID
        let instance: UInt64
        let kind: Kind
    }

    private struct Scheduled: Comparable {
        let at: ContinuousClock.Instant
        let key: Key
        let generation: UInt64

        static func < (lhs: Self, rhs: Self) -> Bool {
            (lhs.at, lhs.generation) < (rhs.at, rhs.generation)
        }

        static func == (lhs: Self, rhs: Self) -> Bool {
            lhs.generation == rhs.generation
        }
    }

    private var heap = Heap<Scheduled>()
    /// The generation each live timer was set with; a heap entry of another is stale.
    private var live: [Key: UInt64] = [:]
    private var generation: UInt64 = 0

    /// Timers set and not yet due or cancelled.
    var count: Int { live.count }
    /// Entries kept, live or waiting to be skipped.
    var heapSize: Int { heap.count }

    /// Sets the timer, replacing any earlier setting of the same key.
    mutating func schedule(_ key: Key, at instant: ContinuousClock.Instant) {
        generation += 1
        live[key] = generation
        heap.insert(Scheduled(at: instant, key: key, generation: generation))
        if heap.count > 2 * live.count + 1024 {
            heap = Heap(heap.unordered.filter(isLive))
        }
    }

    mutating func cancel(_ key: Key) {
        live[key] = nil
    }

    /// Cancels every timer of one session.
    mutating func cancelAll(id: SessionID, instance: UInt64) {
        for kind in [Kind.deadline, .startup] { cancel(Key(id: id, instance: instance, kind: kind)) }
    }

    /// When the earliest live timer is due; nil if none is set.
    mutating func earliest() -> ContinuousClock.Instant? {
        while let first = heap.min, !isLive(first) { _ = heap.popMin() }
        return heap.min?.at
    }

    /// Removes and returns the timers due by `now`, earliest first.
    mutating func due(at now: ContinuousClock.Instant) -> [Key] {
        var keys: [Key] = []
        while let first = heap.min, first.at <= now {
            _ = heap.popMin()
            guard isLive(first) else { continue }
            live[first.key] = nil
            keys.append(first.key)
        }
        return keys
    }

    private func isLive(_ scheduled: Scheduled) -> Bool {
        live[scheduled.key] == scheduled.generation
    }
}
