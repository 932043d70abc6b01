import Foundation
import Synchronization
import CorralStore

/// Fans session events out to subscribers (`/api/events` streams, the webhook). Publishing never
/// waits: each subscriber has a bounded buffer, and one that falls behind loses its oldest
/// events rather than slowing a session's lifecycle down.
public final class EventBus: Sendable {
    private struct State {
        var sequence: UInt64 = 0
        var subscribers: [UInt64: AsyncStream<CorralEvent>.Continuation] = [:]
        var nextSubscriber: UInt64 = 0
    }

    private let state = Mutex(State())
    private let bufferSize: Int

    public init(bufferSize: Int = 1024) {
        self.bufferSize = bufferSize
    }

    public func publish(_ payload: CorralEvent.Payload, session: SessionRecord) {
        let subscribers = state.withLock { state -> ([AsyncStream<CorralEvent>.Continuation], UInt64) in
            state.sequence += 1
            return (Array(state.subscribers.values), state.sequence)
        }
        guard !subscribers.0.isEmpty else { return }
        let event = CorralEvent(sequence: subscribers.1, time: Date(), sessionID: session.id, agent: session.agent, payload: payload)
        for subscriber in subscribers.0 { subscriber.yield(event) }
    }

    /// A stream of every event published from now on; it ends when the subscriber stops
    /// iterating (or is cancelled).
    public func subscribe() -> AsyncStream<CorralEvent> {
        let (stream, continuation) = AsyncStream.makeStream(of: CorralEvent.self, bufferingPolicy: .bufferingNewest(bufferSize))
        let id = state.withLock { state in
            defer { state.nextSubscriber += 1 }
            state.subscribers[state.nextSubscriber] = continuation
            return state.nextSubscriber
        }
        continuation.onTermination = { [weak self] _ in
            _ = self?.state.withLock { $0.subscribers.removeValue(forKey: id) }
        }
        return stream
    }

    /// Ends every subscription (corral is stopping).
    public func finishAll() {
        let subscribers = state.withLock { state in
            defer { state.subscribers.removeAll() }
            return Array(state.subscribers.values)
        }
        for subscriber in subscribers { subscriber.finish() }
    }

    public var subscriberCount: Int { state.withLock { $0.subscribers.count } }
}
