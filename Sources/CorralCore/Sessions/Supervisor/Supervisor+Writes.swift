import CorralPlatform
import CorralStore
import Foundation
import Logging

/// Store writes: each goes into its session's write order (`SessionWriteQueue`), decided on the
/// actor; one that fails is remembered and written again once the store answers
/// (`storeRecoveryLoop`), and the session goes on meanwhile. A store that writes in tens of
/// microseconds on the caller's thread (`InlineWritableStore`: SQLite) is written on the actor
/// itself when no write at all is under way: less than the two wake-ups of a hand-over to the
/// store's thread and back, which a spaced start paid twice (issue 25). Under a burst, with writes
/// in flight, they stay on the store's thread, where they run beside the actor's work.
extension Supervisor {
    /// A store write, made at once on the actor or queued.
    enum StoreWrite: Sendable {
        case made(Bool)
        case queued(Task<Bool, Never>)

        /// Whether it reached the store, once it is done.
        var value: Bool {
            get async {
                switch self {
                case .made(let written): written
                case .queued(let task): await task.value
                }
            }
        }
    }

    /// Writes the session's current record (or its deletion), at once or in its order. An ending
    /// session's status (`stopping`) is always queued: nobody waits for it, and made on the
    /// actor it would hold up the end's first signal; it is written while the processes end.
    @discardableResult
    func enqueueWrite(_ entry: SessionTable.Entry, delete: Bool = false) -> StoreWrite {
        let record = entry.record
        return write(delete ? .delete(record.id) : .update(record), about: record, inline: delete || !entry.isStopping)
    }

    /// Waits for the session's queued writes; whether they reached the store (false while one
    /// that failed waits to be written again). The queue forgets a write once it is done, so
    /// nothing of it stays per session (a finished task kept for every session was kilobytes
    /// each at 10,000 sessions).
    func writesSettled(_ id: SessionID) async -> Bool {
        await writes.settled(id)
        return !unsynced.withLock { $0.contains(id) }
    }

    /// Deletes a record that belongs to no live session, at once or in its order.
    @discardableResult
    func enqueueDelete(_ id: SessionID) -> StoreWrite {
        write(.delete(id), about: nil)
    }

    /// A new record, at once or in its order; the error, if it could not be written.
    func insert(_ record: SessionRecord) async -> CorralError? {
        let trace = PhaseTrace.current
        if let inlineStore, writes.isEmpty {
            trace?.mark("insert begin")
            defer { trace?.mark("insert end") }
            do throws(CorralError) {
                try inlineStore.insertNow(record)
                storeStalls.store(false, ordering: .relaxed)
                return nil
            } catch {
                return error
            }
        }
        let inserted = writes.enqueue(for: [record.id]) { [store] () -> CorralError? in
            do throws(CorralError) {
                trace?.mark("insert begin")
                try await store.insert(record)
                trace?.mark("insert end")
                self.storeStalls.store(false, ordering: .relaxed)
                return nil
            } catch {
                return error
            }
        }
        return await inserted.value
    }

    private enum Write: Sendable {
        case update(SessionRecord)
        case delete(SessionID)

        var id: SessionID {
            switch self {
            case .update(let record): record.id
            case .delete(let id): id
            }
        }

        var name: String {
            switch self {
            case .update: "update"
            case .delete: "delete"
            }
        }
    }

    /// Made at once where the store allows it and no write is under way (so none of this id;
    /// every enqueue is made on the actor, so none can come between); else queued behind every
    /// earlier write of this id, detached: a task that ran on the actor would wait for it to start
    /// and again to finish (a start waits for its status write). The logger that names the
    /// session (`about`) is made only for a failure: made for every write, its metadata was a few
    /// percent of corral's CPU in a burst of starts.
    private func write(_ write: Write, about record: SessionRecord?, inline: Bool = true) -> StoreWrite {
        let id = write.id
        let logger = self.logger
        let log: @Sendable () -> SessionLog = { record.map(logger.about) ?? logger.about(id) }
        let trace = PhaseTrace.current
        if inline, let inlineStore, writes.isEmpty {
            trace?.mark(write.name + " begin")
            defer { trace?.mark(write.name + " end") }
            do throws(CorralError) {
                switch write {
                case .update(let record): try inlineStore.updateNow(record)
                case .delete(let id): try inlineStore.deleteNow(id)
                }
                _ = unsynced.withLock { $0.remove(id) }
                return .made(true)
            } catch {
                writeFailed(id, log: log(), error)
                storeReachable = false
                return .made(false)
            }
        }
        return .queued(
            writes.enqueue(for: [id]) { [store] () -> Bool in
                // The store stalls (a write failed after waiting out its timeout, none has
                // succeeded since): the write is made again once it answers
                // (`storeRecoveryLoop`), not tried now, where it would wait out the timeout too (an
                // end waited for its status write's and then its delete's). A store that refuses
                // fails at once, and is tried as before.
                guard !self.storeStalls.load(ordering: .relaxed) else {
                    self.writeFailed(id, log: log(), CorralError(.store, "not tried: the session store stalls and has not answered since"))
                    return false
                }
                let began = ContinuousClock.now
                do throws(CorralError) {
                    trace?.mark(write.name + " begin")
                    defer { trace?.mark(write.name + " end") }
                    switch write {
                    case .update(let record): try await store.update(record)
                    case .delete(let id): try await store.delete(id)
                    }
                    _ = self.unsynced.withLock { $0.remove(id) }
                    self.storeStalls.store(false, ordering: .relaxed)
                    return true
                } catch where error.code == .conflict {
                    // Another node's record stands; retrying would never change that. This node's
                    // session goes on unrecorded (a restart of this node ends it as an orphan).
                    self.metrics.storeFailed()
                    let first = self.refusedRecords.withLock { refused in
                        guard case .delete = write else { return refused.insert(id).inserted }
                        return refused.remove(id) == nil
                    }
                    if first {
                        log().error("session store write refused; this session's later writes are refused too, and not logged again", metadata: [LogKey.error: "\(error)"])
                    }
                    _ = self.unsynced.withLock { $0.remove(id) }
                    return true
                } catch {
                    self.writeFailed(id, log: log(), error)
                    if ContinuousClock.now - began >= Self.stallingFailure { self.storeStalls.store(true, ordering: .relaxed) }
                    await self.storeFailed()
                    return false
                }
            })
    }

    /// A write that fails after this long waited out a timeout: the store stalls. (One that is
    /// refused, or answered with an error, fails within milliseconds.)
    static let stallingFailure = Duration.seconds(1)

    private nonisolated func writeFailed(_ id: SessionID, log: SessionLog, _ error: CorralError) {
        metrics.storeFailed()
        log.error("session store write failed; it is retried until the store answers", metadata: [LogKey.error: "\(error)"])
        _ = unsynced.withLock { $0.insert(id) }
    }

    private func storeFailed() {
        storeReachable = false
    }
}
