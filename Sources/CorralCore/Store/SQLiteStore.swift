import Foundation
import GRDB

/// Records in an embedded SQLite database (WAL mode), the default store.
public final class SQLiteStore: SessionStore {
    private let pool: DatabasePool
    private let checkpointer: WALCheckpointer

    /// Opens (creating if needed, mode 0600) the database at `path`.
    public init(path: String) throws(CorralError) {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw CorralError(.store, "cannot open the SQLite store at \(path)", underlying: SystemError("open", errno: errno))
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
        } catch {
            throw CorralError(.store, "cannot open the SQLite store at \(path): \(error)")
        }
    }

    static let backstopPages = 8000

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
        return migrator
    }

    public func insert(_ record: SessionRecord) async throws(CorralError) {
        do {
            try await pool.write { db in try Self.write(record, db, replace: false) }
        } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_PRIMARYKEY {
            throw CorralError(.conflict, "session id \(record.id) is already in use")
        } catch {
            throw Self.failure("insert \(record.id)", error)
        }
    }

    public func update(_ record: SessionRecord) async throws(CorralError) {
        do {
            try await pool.write { db in try Self.write(record, db, replace: true) }
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
            throw CorralError(.conflict, "session id \(record.id) is already in use")
        } catch {
            throw Self.failure("record \(record.id) in place of \(oldID)", error)
        }
    }

    public func delete(_ id: SessionID) async throws(CorralError) {
        do {
            try await pool.write { db in
                try db.execute(sql: "DELETE FROM sessions WHERE id = ?", arguments: [id.rawValue])
            }
        } catch {
            throw Self.failure("delete \(id)", error)
        }
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

    private static func write(_ record: SessionRecord, _ db: Database, replace: Bool) throws {
        let metadata = String(decoding: try JSONEncoder().encode(record.metadata), as: UTF8.self)
        try db.execute(
            sql: """
                INSERT \(replace ? "OR REPLACE " : "")INTO sessions
                (id, agent, status, pid, pgid, is_group_leader, leader_start_time, containment,
                 cgroup_path, created_at, expires_at, ready_at, metadata, log_path, node, livekit_room, livekit_identity,
                 start_path, process_tag)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
            arguments: [
                record.id.rawValue, record.agent, record.status.rawValue, record.pid, record.pgid,
                record.isGroupLeader, record.leaderStartTime.map { Int64(bitPattern: $0) },
                record.containment.rawValue, record.cgroupPath, record.createdAt.timeIntervalSince1970,
                record.expiresAt.timeIntervalSince1970, record.readyAt?.timeIntervalSince1970,
                metadata, record.logPath, record.node, record.livekitRoom, record.livekitIdentity,
                record.start.rawValue, record.processTag?.rawValue,
            ]
        )
    }

    /// A row that cannot be understood (written by a newer corral, edited by hand) is skipped.
    private static func record(from row: Row) -> SessionRecord? {
        guard let id = SessionID(row["id"] as String? ?? ""),
            let status = SessionStatus(rawValue: row["status"] as String? ?? ""),
            let containment = ContainmentKind(rawValue: row["containment"] as String? ?? "")
        else { return nil }
        let metadataText: String = row["metadata"] ?? "{}"
        let metadata = (try? JSONDecoder().decode([String: String].self, from: Data(metadataText.utf8))) ?? [:]
        let startTime: Int64? = row["leader_start_time"]
        let readyAt: Double? = row["ready_at"]
        return SessionRecord(
            id: id,
            agent: row["agent"],
            status: status,
            pid: row["pid"],
            pgid: row["pgid"],
            isGroupLeader: row["is_group_leader"],
            leaderStartTime: startTime.map { UInt64(bitPattern: $0) },
            containment: containment,
            cgroupPath: row["cgroup_path"],
            createdAt: Date(timeIntervalSince1970: row["created_at"]),
            expiresAt: Date(timeIntervalSince1970: row["expires_at"]),
            readyAt: readyAt.map { Date(timeIntervalSince1970: $0) },
            metadata: metadata,
            logPath: row["log_path"],
            node: row["node"],
            livekitRoom: row["livekit_room"],
            livekitIdentity: row["livekit_identity"],
            start: (row["start_path"] as String?).flatMap(StartPath.init(rawValue:)) ?? .cold,
            processTag: (row["process_tag"] as String?).flatMap(SessionID.init)
        )
    }

    private static func failure(_ action: String, _ error: any Error) -> CorralError {
        CorralError(.store, "the session store could not \(action): \(error)")
    }
}
