import CorralPlatform
/// Where session records live. The record is corral's recovery log: it is written before an
/// agent is spawned and before any answer is sent, and read back at start-up.
public protocol SessionStore: Sendable {
    /// Adds a record; throws `CorralError.Code.conflict` if the id is taken.
    func insert(_ record: SessionRecord) async throws(CorralError)
    /// Replaces an existing record (inserting it if it is missing); a shared store throws
    /// `conflict` if the record there is another node's, changing nothing.
    func update(_ record: SessionRecord) async throws(CorralError)
    /// Removes a record; removing a missing one is not an error; `conflict` as `update`.
    func delete(_ id: SessionID) async throws(CorralError)
    /// Atomically removes `oldID`'s record and adds `record` under its own id (a prewarmed agent
    /// taking a session); throws `conflict` if `record.id` is taken, changing nothing.
    func replace(_ oldID: SessionID, with record: SessionRecord) async throws(CorralError)
    func record(_ id: SessionID) async throws(CorralError) -> SessionRecord?
    func allRecords() async throws(CorralError) -> [SessionRecord]
    /// The records other than `known`'s: what the sweep looks for, without reading back every
    /// record corral already holds (at 10,000 sessions that reading was most of its idle CPU).
    func records(excluding known: Set<SessionID>) async throws(CorralError) -> [SessionRecord]
    /// Throws if the store cannot be reached now (`/readyz`).
    func ping() async throws(CorralError)
    /// Whether the store lost what `node` wrote since the last call: the mark each call leaves is
    /// gone (a Redis restarted empty between two requests, or flushed). The node's live records
    /// must then be written again. The first call of a store that never had the mark says true.
    /// The mark lasts `markedFor` seconds past each call.
    func lostWrites(of node: String, markedFor seconds: Int) async throws(CorralError) -> Bool
    /// Whether records can go missing while corral runs and answers (a Redis flushed, evicting,
    /// restored): only then do `lostWrites` and `missingRecords` need asking.
    var canLoseRecords: Bool { get }
    /// Of `records` (each as it should be stored), the ids of those the store does not hold so:
    /// losses that leave the mark of `lostWrites` in place (a key evicted, a restore from an
    /// older snapshot, a failover to a replica that lagged), and records written over by someone
    /// without the cluster secret; not those another node has written since.
    func missingRecords(_ records: [SessionRecord]) async throws(CorralError) -> [SessionID]
}

extension SessionStore {
    public func ping() async throws(CorralError) {}

    /// A store on this host's disk, or in corral's memory, loses nothing while corral runs.
    public var canLoseRecords: Bool { false }

    public func lostWrites(of node: String, markedFor seconds: Int) async throws(CorralError) -> Bool { false }

    public func missingRecords(_ records: [SessionRecord]) async throws(CorralError) -> [SessionID] { [] }

    public func records(excluding known: Set<SessionID>) async throws(CorralError) -> [SessionRecord] {
        try await allRecords().filter { !known.contains($0.id) }
    }
}
