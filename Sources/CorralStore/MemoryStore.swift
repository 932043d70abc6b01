import CorralPlatform
/// Records in memory only: for tests and for running without persistence (`store: memory`).
public actor MemoryStore: SessionStore {
    private var records: [SessionID: SessionRecord] = [:]
    /// The delivery ledger's ids and until when each is kept, in seconds since 1970
    /// (`MemoryStore+Deliveries.swift`).
    var deliveries: [String: Double] = [:]

    public init() {}

    public func insert(_ record: SessionRecord) throws(CorralError) {
        guard records[record.id] == nil else {
            throw CorralError.sessionIDInUse(record.id)
        }
        records[record.id] = record
    }

    public func update(_ record: SessionRecord) {
        records[record.id] = record
    }

    public func replace(_ oldID: SessionID, with record: SessionRecord) throws(CorralError) {
        guard records[record.id] == nil else {
            throw CorralError.sessionIDInUse(record.id)
        }
        records[oldID] = nil
        records[record.id] = record
    }

    public func delete(_ id: SessionID) {
        records[id] = nil
    }

    public func record(_ id: SessionID) -> SessionRecord? {
        records[id]
    }

    public func allRecords() -> [SessionRecord] {
        records.values.sorted { $0.createdAt < $1.createdAt }
    }
}
