import CorralCore
import CorralPlatform
import Synchronization
import CorralStore

/// A session store that fails, or holds, chosen operations on demand, in front of a real
/// `MemoryStore`: what a test needs to put a store outage, or a slow write, exactly where it
/// wants it. Every operation that reaches the store is logged in order.
public final class FaultyStore: SessionStore {
    public enum Operation: String, Sendable, Hashable {
        case insert, update, delete, replace, read, ping
    }

    private struct State {
        var failing: Set<Operation> = []
        var holding: Set<Operation> = []
        /// Operations of which only the next call is held.
        var holdingOnce: Set<Operation> = []
        var held: [(Operation, CheckedContinuation<Void, Never>)] = []
        var log: [(Operation, SessionID?)] = []
    }

    public let backing = MemoryStore()
    private let state = Mutex(State())

    public init() {}

    /// From now on, `operations` throw a store error.
    public func fail(_ operations: Operation...) {
        state.withLock { $0.failing.formUnion(operations) }
    }

    /// From now on, `operations` wait until `release` before they run.
    public func hold(_ operations: Operation...) {
        state.withLock { $0.holding.formUnion(operations) }
    }

    /// The next call of `operation` (only that one) waits until `release`.
    public func holdNext(_ operation: Operation) {
        state.withLock { _ = $0.holdingOnce.insert(operation) }
    }

    /// Everything works again; held operations go on.
    public func recover() {
        let waiting = state.withLock { state in
            state.failing = []
            state.holding = []
            state.holdingOnce = []
            defer { state.held = [] }
            return state.held.map(\.1)
        }
        for continuation in waiting { continuation.resume() }
    }

    /// `operations` work again (held ones stay held).
    public func succeed(_ operations: Operation...) {
        state.withLock { $0.failing.subtract(operations) }
    }

    /// Stops holding `operations`; those waiting go on (and fail if they are still failing).
    public func release(_ operations: Operation...) {
        let waiting = state.withLock { state in
            state.holding.subtract(operations)
            state.holdingOnce.subtract(operations)
            let go = state.held.filter { operations.contains($0.0) }
            state.held.removeAll { operations.contains($0.0) }
            return go.map(\.1)
        }
        for continuation in waiting { continuation.resume() }
    }

    /// How many calls of `operation` are waiting.
    public func heldCount(_ operation: Operation) -> Int {
        state.withLock { $0.held.count { $0.0 == operation } }
    }

    /// The operations that reached the store, in order (after any hold; failed ones too).
    public func calls(_ operation: Operation? = nil) -> [SessionID?] {
        state.withLock { $0.log.filter { operation == nil || $0.0 == operation }.map(\.1) }
    }

    private func enter(_ operation: Operation, _ id: SessionID?) async throws(CorralError) {
        await withCheckedContinuation { continuation in
            let waits = state.withLock { state in
                guard state.holding.contains(operation) || state.holdingOnce.remove(operation) != nil else { return false }
                state.held.append((operation, continuation))
                return true
            }
            if !waits { continuation.resume() }
        }
        let fails = state.withLock { state in
            state.log.append((operation, id))
            return state.failing.contains(operation)
        }
        if fails { throw CorralError(.store, "the test store refuses \(operation.rawValue) (FaultyStore)") }
    }

    public func insert(_ record: SessionRecord) async throws(CorralError) {
        try await enter(.insert, record.id)
        try await backing.insert(record)
    }

    public func update(_ record: SessionRecord) async throws(CorralError) {
        try await enter(.update, record.id)
        await backing.update(record)
    }

    public func delete(_ id: SessionID) async throws(CorralError) {
        try await enter(.delete, id)
        await backing.delete(id)
    }

    public func replace(_ oldID: SessionID, with record: SessionRecord) async throws(CorralError) {
        try await enter(.replace, record.id)
        try await backing.replace(oldID, with: record)
    }

    public func record(_ id: SessionID) async throws(CorralError) -> SessionRecord? {
        try await enter(.read, id)
        return await backing.record(id)
    }

    public func allRecords() async throws(CorralError) -> [SessionRecord] {
        try await enter(.read, nil)
        return await backing.allRecords()
    }

    public func ping() async throws(CorralError) {
        try await enter(.ping, nil)
    }
}
