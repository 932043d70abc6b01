import CorralPlatform
import Foundation

/// Deliveries acted on, by id, each kept until a time of its own: one sent again before then
/// (a retry, or a captured webhook replayed) is not acted on again, also after corral restarted,
/// as the ids are kept in the session store. In Redis the nodes share one ledger: whoever
/// claims ids there names them with what they are for (a node's own copy of a LiveKit event).
public protocol DeliveryLedger: Sendable {
    /// Records `id` until `until` and answers true, or answers false if it is recorded and its
    /// time has not passed at `now`: in one step, so that of two claims at once only one wins.
    func claim(_ id: String, until: Date, now: Date) async throws(CorralError) -> Bool
    /// Forgets `id` (acting on it failed: a retry must be acted on).
    func release(_ id: String) async throws(CorralError)
}
