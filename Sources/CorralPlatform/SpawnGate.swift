import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Keeps the process monitor's thread away from spawns in flight, without making spawns wait
/// for each other: spawns pass it shared, the monitor exclusive.
///
/// A reader-writer lock that prefers writers: once the monitor waits, new spawns wait behind it,
/// so a steady stream of spawns cannot starve the reaper (glibc's default prefers readers). Not
/// recursive: a spawn must not pass it again while inside it, or it deadlocks against a waiting
/// monitor.
final class SpawnGate: @unchecked Sendable {
    // Allocated once and never moved: a pthread lock must not change address.
    private let lock: UnsafeMutablePointer<pthread_rwlock_t>
    private let waiting = Atomic<Int>(0)

    /// How many threads wait to pass exclusively (tests use it to see the monitor held back).
    var exclusiveWaiters: Int { waiting.load(ordering: .relaxed) }

    init() {
        lock = .allocate(capacity: 1)
        var attributes = pthread_rwlockattr_t()
        pthread_rwlockattr_init(&attributes)
        pthread_rwlockattr_setkind_np(&attributes, Int32(PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP))
        let created = pthread_rwlock_init(lock, &attributes)
        pthread_rwlockattr_destroy(&attributes)
        precondition(created == 0, "cannot create the spawn gate (pthread_rwlock_init: \(created))")
    }

    deinit {
        pthread_rwlock_destroy(lock)
        lock.deallocate()
    }

    /// Runs `body` beside other shared holders, never beside an exclusive one.
    func shared<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        pthread_rwlock_rdlock(lock)
        defer { pthread_rwlock_unlock(lock) }
        return try body()
    }

    /// Runs `body` alone: once every shared holder has left, and before any new one enters.
    func exclusive<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        waiting.add(1, ordering: .relaxed)
        pthread_rwlock_wrlock(lock)
        waiting.subtract(1, ordering: .relaxed)
        defer { pthread_rwlock_unlock(lock) }
        return try body()
    }
}
