import CorralPlatform
import GRDB

/// SQLite's writes on the caller's thread: GRDB's synchronous write, the statements of the
/// asynchronous ones. It waits, if another write is under way, for that one to finish (a
/// commit: tens of microseconds); the background checkpoint is passive and holds no lock a
/// writer waits for.
extension SQLiteStore: InlineWritableStore {
    public func insertNow(_ record: SessionRecord) throws(CorralError) {
        do {
            try pool.writeWithoutTransaction { db in try Self.write(record, db, replace: false) }
        } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_PRIMARYKEY {
            throw CorralError.sessionIDInUse(record.id)
        } catch {
            throw Self.failure("insert \(record.id)", error)
        }
    }

    public func updateNow(_ record: SessionRecord) throws(CorralError) {
        do {
            try pool.writeWithoutTransaction { db in try Self.write(record, db, replace: true) }
        } catch {
            throw Self.failure("update \(record.id)", error)
        }
    }

    public func deleteNow(_ id: SessionID) throws(CorralError) {
        do {
            try pool.writeWithoutTransaction { db in try Self.deleteRecord(id, db) }
        } catch {
            throw Self.failure("delete \(id)", error)
        }
    }
}
