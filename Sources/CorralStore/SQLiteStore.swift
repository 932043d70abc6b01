import CorralPlatform
import Foundation
import GRDB

/// Records in an embedded SQLite database (WAL mode), the default store.
public final class SQLiteStore: SessionStore {
    let pool: DatabasePool
    private let checkpointer: WALCheckpointer

    /// Opens (creating if needed, mode 0600) the database at `path`.
    public init(path: String) throws(CorralError) {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw CorralError(
                .store, "cannot open the SQLite store at \(path): its directory must exist and be writable by corral, or set store to another path",
                underlying: SystemError("open", errno: errno)
            )
        }
        close(fd)
        do {
            var configuration = Configuration()
            configuration.busyMode = .timeout(5)
            configuration.label = "corral"
            // In WAL mode, NORMAL makes each commit durable against a crash of corral (the case
            // that matters: records must survive kill -9) without an fsync per commit; only a
            // power loss can take back the last commits.
            // The checkpointer copies the log back in the background; SQLite's own checkpoint,
            // run inside a commit, is only the backstop (8,000 pages, 32 MB, instead of 1,000).
            configuration.prepareDatabase { db in
                try db.execute(sql: "PRAGMA synchronous = NORMAL; PRAGMA wal_autocheckpoint = \(Self.backstopPages)")
            }
            pool = try DatabasePool(path: path, configuration: configuration)
            try Self.migrator.migrate(pool)
            checkpointer = try WALCheckpointer(path: path)
        } catch let error as DatabaseError where error.resultCode == .SQLITE_NOTADB || error.resultCode == .SQLITE_CORRUPT {
            throw CorralError(
                .store, "the SQLite store at \(path) is not an SQLite database, or is damaged (\(Self.describe(error))): move it aside, or set store to another path"
            )
        } catch {
            throw CorralError(.store, "cannot open the SQLite store at \(path): \(Self.describe(error))")
        }
    }

    static let backstopPages = 8000

    /// A write, as a start's would be (`/readyz`, and the retries after a failed write): on a full
    /// disk or a read-only one, reads still answer and every record written fails.
    public func ping() async throws(CorralError) {
        do {
            try await pool.write { db in
                try db.execute(sql: "INSERT OR REPLACE INTO write_probe (id, at) VALUES (1, ?)", arguments: [Date().timeIntervalSince1970])
            }
        } catch {
            throw Self.failure("write", error)
        }
    }

    /// The last background checkpoint that succeeded (tests, diagnostics).
    public var lastCheckpoint: CheckpointPass? { checkpointer.lastPass }

    private static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: sessions") { db in
            try db.create(table: "sessions") { table in
                table.primaryKey("id", .text)
                table.column("agent", .text).notNull()
                table.column("status", .text).notNull()
                table.column("pid", .integer)
                table.column("pgid", .integer)
                table.column("is_group_leader", .boolean).notNull()
                table.column("leader_start_time", .integer)
                table.column("containment", .text).notNull()
                table.column("created_at", .double).notNull()
                table.column("expires_at", .double).notNull()
                table.column("ready_at", .double)
                table.column("metadata", .text).notNull()
                table.column("log_path", .text).notNull()
            }
        }
        migrator.registerMigration("v2: cgroup path") { db in
            try db.alter(table: "sessions") { table in
                table.add(column: "cgroup_path", .text)
            }
        }
        migrator.registerMigration("v3: node") { db in
            try db.alter(table: "sessions") { table in
                table.add(column: "node", .text)
            }
        }
        migrator.registerMigration("v4: livekit") { db in
            try db.alter(table: "sessions") { table in
                table.add(column: "livekit_room", .text)
                table.add(column: "livekit_identity", .text)
            }
        }
        migrator.registerMigration("v5: prewarm") { db in
            try db.alter(table: "sessions") { table in
                table.add(column: "start_path", .text)
                table.add(column: "process_tag", .text)
            }
        }
        migrator.registerMigration("v6: livekit jobs") { db in
            try db.alter(table: "sessions") { table in
                table.add(column: "livekit_job_id", .text)
                table.add(column: "livekit_dispatch_id", .text)
                table.add(column: "livekit_agent_name", .text)
            }
        }
        registerDeliveries(&migrator)
        migrator.registerMigration("v8: sightings") { db in
            try db.alter(table: "sessions") { table in
                table.add(column: "sightings", .text)
            }
        }
        migrator.registerMigration("v9: write probe") { db in
            try db.create(table: "write_probe") { table in
                table.primaryKey("id", .integer)
                table.column("at", .double).notNull()
            }
        }
        return migrator
    }

    public func insert(_ record: SessionRecord) async throws(CorralError) {
        do {
            try await pool.writeWithoutTransaction { db in try Self.write(record, db, replace: false) }
        } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_PRIMARYKEY {
            throw CorralError.sessionIDInUse(record.id)
        } catch {
            throw Self.failure("insert \(record.id)", error)
        }
    }

    public func update(_ record: SessionRecord) async throws(CorralError) {
        do {
            try await pool.writeWithoutTransaction { db in try Self.write(record, db, replace: true) }
        } catch {
            throw Self.failure("update \(record.id)", error)
        }
    }

    public func replace(_ oldID: SessionID, with record: SessionRecord) async throws(CorralError) {
        do {
            try await pool.write { db in
                try db.execute(sql: "DELETE FROM sessions WHERE id = ?", arguments: [oldID.rawValue])
                try Self.write(record, db, replace: false)
            }
        } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_PRIMARYKEY {
            throw CorralError.sessionIDInUse(record.id)
        } catch {
            throw Self.failure("record \(record.id) in place of \(oldID)", error)
        }
    }

    public func delete(_ id: SessionID) async throws(CorralError) {
        do {
            try await pool.writeWithoutTransaction { db in try Self.deleteRecord(id, db) }
        } catch {
            throw Self.failure("delete \(id)", error)
        }
    }

    static func deleteRecord(_ id: SessionID, _ db: Database) throws {
        try db.cachedStatement(sql: "DELETE FROM sessions WHERE id = ?").execute(arguments: [id.rawValue])
    }

    public func record(_ id: SessionID) async throws(CorralError) -> SessionRecord? {
        do {
            return try await pool.read { db in
                try Row.fetchOne(db, sql: "SELECT * FROM sessions WHERE id = ?", arguments: [id.rawValue])
                    .flatMap(Self.record(from:))
            }
        } catch {
            throw Self.failure("read \(id)", error)
        }
    }

    public func allRecords() async throws(CorralError) -> [SessionRecord] {
        do {
            return try await pool.read { db in
                try Row.fetchAll(db, sql: "SELECT * FROM sessions ORDER BY created_at").compactMap(Self.record(from:))
            }
        } catch {
            throw Self.failure("read all sessions", error)
        }
    }

    public func records(excluding known: Set<SessionID>) async throws(CorralError) -> [SessionRecord] {
        do {
            return try await pool.read { db in
                let others = try String.fetchAll(db, sql: "SELECT id FROM sessions").filter { id in
                    SessionID(id).map { !known.contains($0) } ?? true
                }
                return try others.compactMap { id in
                    try Row.fetchOne(db, sql: "SELECT * FROM sessions WHERE id = ?", arguments: [id]).flatMap(Self.record(from:))
                }
            }
        } catch {
            throw Self.failure("read sessions", error)
        }
    }

    /// `INSERT INTO sessions (every field's column) VALUES (?, …)`.
    private static let insertSQL = insert(replacing: false)
    private static let replaceSQL = insert(replacing: true)

    private static func insert(replacing: Bool) -> String {
        let columns = SessionRecord.fields.map(\.column)
        let placeholders = Array(repeating: "?", count: columns.count).joined(separator: ", ")
        return "INSERT \(replacing ? "OR REPLACE " : "")INTO sessions (\(columns.joined(separator: ", "))) VALUES (\(placeholders))"
    }

    /// One statement, so it needs no transaction of its own (SQLite commits it alone, atomically);
    /// prepared once per connection, as a spaced start would otherwise parse it every time.
    static func write(_ record: SessionRecord, _ db: Database, replace: Bool) throws {
        let values: [(any DatabaseValueConvertible)?] = SessionRecord.fields.map { field in
            switch field.get(record) {
            case .text(let text): text
            case .integer(let number): number
            case .real(let number): number
            case .bool(let flag): flag
            case .null: nil
            }
        }
        try db.cachedStatement(sql: replace ? replaceSQL : insertSQL).execute(arguments: StatementArguments(values))
    }

    /// A row that cannot be understood (written by a newer corral, edited by hand) is skipped.
    private static func record(from row: Row) -> SessionRecord? {
        SessionRecord { field in stored(row[field.column], as: field.kind) }
    }

    // A function of its own, not inline in the closure above: Swift 6.3's optimizer crashed on
    // that ("Found ownership error") in release builds.
    private static func stored(_ value: DatabaseValue, as kind: SessionRecord.Field.Kind) -> StoredValue {
        guard !value.isNull else { return .null }
        let converted: StoredValue? =
            switch kind {
            case .text, .stringMap: String.fromDatabaseValue(value).map(StoredValue.text)
            case .integer, .unsigned: Int64.fromDatabaseValue(value).map(StoredValue.integer)
            case .bool: Bool.fromDatabaseValue(value).map(StoredValue.bool)
            case .date: Double.fromDatabaseValue(value).map(StoredValue.real)
            }
        return converted ?? .null
    }

    static func failure(_ action: String, _ error: any Error) -> CorralError {
        CorralError(.store, "the session store could not \(action): \(describe(error))")
    }

    /// SQLite's code and message, without the statement GRDB quotes (an insert's names every
    /// column, and reached the API's answers).
    static func describe(_ error: any Error) -> String {
        guard let error = error as? DatabaseError else { return "\(error)" }
        return "SQLite error \(error.resultCode.rawValue): \(error.message ?? "\(error.resultCode)")"
    }
}
