import CorralPlatform
import Foundation
import GRDB

/// The delivery ledger in the SQLite database: the table `deliveries` (`id`, `until` in seconds
/// since 1970), whose expired rows each claim deletes, so that they never pile up.
extension SQLiteStore: DeliveryLedger {
    static func registerDeliveries(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v7: deliveries") { db in
            try db.create(table: "deliveries") { table in
                table.primaryKey("id", .text)
                table.column("until", .double).notNull().indexed()
            }
        }
    }

    public func claim(_ id: String, until: Date, now: Date) async throws(CorralError) -> Bool {
        do {
            return try await pool.write { db in
                try db.execute(sql: "DELETE FROM deliveries WHERE until <= ?", arguments: [now.timeIntervalSince1970])
                try db.execute(
                    sql: "INSERT INTO deliveries (id, until) VALUES (?, ?) ON CONFLICT (id) DO NOTHING",
                    arguments: [id, until.timeIntervalSince1970]
                )
                return db.changesCount == 1
            }
        } catch {
            throw Self.failure("record the delivery \(id)", error)
        }
    }

    public func release(_ id: String) async throws(CorralError) {
        do {
            try await pool.write { db in try db.execute(sql: "DELETE FROM deliveries WHERE id = ?", arguments: [id]) }
        } catch {
            throw Self.failure("forget the delivery \(id)", error)
        }
    }
}
