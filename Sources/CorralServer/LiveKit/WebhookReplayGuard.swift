import Foundation
import LiveKitWorkerProtocol
import Synchronization

/// The LiveKit events this node has acted on, by id, kept for as long as a captured delivery
/// could still pass the signature check: a replayed `room_started` must not start a session
/// again, nor a replayed `room_finished` end the next one. LiveKit delivers each event, with
/// the same id, to every node, so each node keeps its own.
final class WebhookReplayGuard: Sendable {
    enum Verdict: Equatable {
        case fresh
        /// Acted on already (a retry, another delivery, or a replay).
        case repeated
        /// `createdAt` is further back than any signature corral accepts.
        case tooOld
    }

    /// LiveKit signs webhooks for 5 minutes; corral allows 60 s of clock skew on top.
    static let window: TimeInterval = 300 + JWT.leeway

    private struct State {
        var seen: [String: Date] = [:]
        var nextPurge = Date.distantPast
    }

    private let state = Mutex(State())

    /// Whether to act on `event`; a fresh one with an id is remembered until its token, and the
    /// window, have passed.
    func admit(_ event: LiveKitEvent, tokenExpiry: Date?, now: Date = Date()) -> Verdict {
        if let created = event.createdAt, now.timeIntervalSince(created) > Self.window { return .tooOld }
        // Without an id only the signature's expiry bounds a replay; LiveKit always sends one.
        guard let id = event.id else { return .fresh }
        let keepUntil = max(now.addingTimeInterval(Self.window), tokenExpiry.map { $0.addingTimeInterval(JWT.leeway) } ?? .distantPast)
        return state.withLock { state in
            if now >= state.nextPurge {
                state.seen = state.seen.filter { $0.value > now }
                state.nextPurge = now.addingTimeInterval(10)
            }
            if let until = state.seen[id], until > now { return .repeated }
            state.seen[id] = keepUntil
            return .fresh
        }
    }

    /// Acting on the event failed: a retry of it must be acted on.
    func forget(_ id: String) {
        _ = state.withLock { $0.seen.removeValue(forKey: id) }
    }
}
