import CorralCore
import CorralPlatform
import Foundation
import LiveKitWorkerProtocol
import CorralStore

/// The LiveKit events this node has acted on, by id, kept in the store (`DeliveryLedger`) for as
/// long as a captured delivery could still pass the signature check: a replayed `room_started`
/// must not start a session again, nor a replayed `room_finished` end the next one, also after
/// corral restarted. LiveKit delivers each event, with the same id, to every node, and each node
/// acts on its own sessions: in a store the nodes share, each keeps its own ids.
struct WebhookReplayGuard: Sendable {
    enum Verdict: Equatable {
        case fresh
        /// Acted on already (a retry, another delivery, or a replay).
        case repeated
        /// `createdAt` is further back than any signature corral accepts.
        case tooOld
    }

    /// LiveKit signs webhooks for 5 minutes; corral allows 60 s of clock skew on top.
    static let window: TimeInterval = 300 + JWT.leeway

    let ledger: any DeliveryLedger
    /// This node's id: its own copy of an event is what it acts on.
    let node: String

    /// Whether to act on `event`; a fresh one with an id is recorded until its token, and the
    /// window, have passed. Throws if the store cannot record it: then it is not to be acted on.
    func admit(_ event: LiveKitEvent, tokenExpiry: Date?, now: Date = Date()) async throws(CorralError) -> Verdict {
        if let created = event.createdAt, now.timeIntervalSince(created) > Self.window { return .tooOld }
        // Without an id only the signature's expiry bounds a replay; LiveKit always sends one.
        guard let id = event.id else { return .fresh }
        let keepUntil = max(now.addingTimeInterval(Self.window), tokenExpiry.map { $0.addingTimeInterval(JWT.leeway) } ?? .distantPast)
        return try await ledger.claim(key(id), until: keepUntil, now: now) ? .fresh : .repeated
    }

    /// Acting on the event failed: a retry of it must be acted on.
    func forget(_ id: String) async throws(CorralError) {
        try await ledger.release(key(id))
    }

    private func key(_ id: String) -> String { "livekit-webhook:\(node):\(id)" }
}
