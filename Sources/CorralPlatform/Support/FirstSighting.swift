import Synchronization

/// Remembers what was already reported, so that a problem every read finds again (a record in
/// a shared store that does not verify) is logged once, not at every listing. Bounded: past
/// `limit` keys it forgets them all and starts over.
public final class FirstSighting: Sendable {
    private let seen = Mutex<Set<String>>([])
    private let limit: Int

    public init(limit: Int = 10_000) {
        self.limit = limit
    }

    /// True the first time `key` is seen.
    public func isFirst(_ key: String) -> Bool {
        seen.withLock { seen in
            if seen.count >= limit { seen.removeAll() }
            return seen.insert(key).inserted
        }
    }
}
