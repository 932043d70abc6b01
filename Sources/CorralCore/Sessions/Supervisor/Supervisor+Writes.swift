import CorralPlatform
import Foundation
import Logging

/// Store writes: each goes into its session's write order (`SessionWriteQueue`), decided and
/// queued on the actor; one that fails is remembered and written again once the store answers
/// (`storeRecoveryLoop`), and the session goes on meanwhile.
extension Supervisor {
    /// Queues a write of the session's current record (or its deletion).
    @discardableResult
    func enqueueWrite(_ entry: SessionTable.Entry, delete: Bool = false) -> Task<Bool, Never> {
        let record = entry.record
        let trace = PhaseTrace.current
        return queue(record.id, log: logger.about(record)) { [store] () throws(CorralError) in
            trace?.mark(delete ? "delete begin" : "update begin")
            defer { trace?.mark(delete ? "delete end" : "update end") }
            if delete {
                try await store.delete(record.id)
            } else {
                try await store.update(record)
            }
        }
    }

    /// Waits for the session's queued writes; whether they reached the store (false while one
    /// that failed waits to be written again). The queue forgets a write once it is done, so
    /// nothing of it stays per session (a finished task kept for every session was kilobytes
    /// each at 10,000 sessions).
    func writesSettled(_ id: SessionID) async -> Bool {
        await writes.settled(id)
        return !unsynced.withLock { $0.contains(id) }
    }

    /// Queues the deletion of a record that belongs to no live session.
    @discardableResult
    func enqueueDelete(_ id: SessionID) -> Task<Bool, Never> {
        queue(id, log: logger.about(id)) { [store] () throws(CorralError) in try await store.delete(id) }
    }

    /// Queued behind every earlier write of this id, whoever made it; detached: a task that ran
    /// on the actor would wait for it to start and again to finish (a start waits for its status
    /// write).
    private func queue(_ id: SessionID, log: Logger, _ write: @escaping @Sendable () async throws(CorralError) -> Void) -> Task<Bool, Never> {
        writes.enqueue(for: [id]) { [metrics] () -> Bool in
            do {
                try await write()
                _ = self.unsynced.withLock { $0.remove(id) }
                return true
            } catch {
                metrics.storeFailed()
                log.error("session store write failed; it is retried until the store answers", metadata: [LogKey.error: "\(error)"])
                _ = self.unsynced.withLock { $0.insert(id) }
                await self.storeFailed()
                return false
            }
        }
    }

    private func storeFailed() {
        storeReachable = false
    }
}
