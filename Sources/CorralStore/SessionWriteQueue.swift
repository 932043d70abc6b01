import CorralPlatform
import Synchronization

/// Store writes, in order per session id: a write starts only once every earlier write of the
/// same ids has finished. The order is the order of `enqueue` calls, which the supervisor makes
/// on its actor as it decides, so a record can never land after its own deletion (or a delete of
/// an old session after the insert of a new one with the same id), whoever queued the writes:
/// a session's own changes, the re-synchronisation after a store outage, the sweep.
/// Writes run detached: they need nothing of the caller's actor.
package final class SessionWriteQueue: Sendable {
    private struct Tail: Sendable {
        let generation: UInt64
        let done: @Sendable () async -> Void
    }

    private struct State {
        var generation: UInt64 = 0
        var tails: [SessionID: Tail] = [:]
    }

    private let state = Mutex(State())

    package init() {}

    /// Runs `write` after the writes queued before it for any of `ids`.
    @discardableResult
    package func enqueue<T: Sendable>(for ids: [SessionID], _ write: @escaping @Sendable () async -> T) -> Task<T, Never> {
        state.withLock { state in
            state.generation += 1
            let generation = state.generation
            let earlier = ids.compactMap { state.tails[$0]?.done }
            let task = Task.detached { () -> T in
                for wait in earlier { await wait() }
                let result = await write()
                self.finished(ids, generation: generation)
                return result
            }
            for id in ids { state.tails[id] = Tail(generation: generation, done: { _ = await task.value }) }
            return task
        }
    }

    /// Whether no write at all is under way or waiting: one made now, by whoever makes the
    /// enqueue calls, comes after every earlier write.
    package var isEmpty: Bool {
        state.withLock { $0.tails.isEmpty }
    }

    /// Waits for every write queued so far for `id`.
    package func settled(_ id: SessionID) async {
        await state.withLock { $0.tails[id]?.done }?()
    }

    /// Forgets the tail once it is the last write of its ids, so the table holds only ids with
    /// writes under way.
    private func finished(_ ids: [SessionID], generation: UInt64) {
        state.withLock { state in
            for id in ids where state.tails[id]?.generation == generation { state.tails[id] = nil }
        }
    }
}
