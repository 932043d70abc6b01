import CorralCore
import CorralPlatform
import CorralSecurity
import CorralTestSupport
import Foundation
import Logging
import RedisClient
import Testing
import CorralStore

@Suite("Session stores")
struct SessionStoreTests {
    enum Kind: String, CaseIterable, Sendable { case memory, sqlite, redis }

    /// The kinds this host can test (Redis needs redis-server).
    static let kinds: [Kind] = RedisServer.available ? Kind.allCases : [.memory, .sqlite]

    /// A fresh store of each kind; SQLite in its own temporary file.
    static func withStore(_ kind: Kind, _ body: (any SessionStore) async throws -> Void) async throws {
        switch kind {
        case .memory:
            try await body(MemoryStore())
        case .sqlite:
            let directory = NSTemporaryDirectory() + "corral-store-" + UUID().uuidString
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: directory) }
            try await body(try SQLiteStore(path: directory + "/corral.db"))
        case .redis:
            try await RedisServer.with { (server: RedisServer) async throws in
                let client = try RedisClient(server.url)
                defer { client.close() }
                try await body(RedisStore(client: client, secret: ClusterSecret(String(repeating: "s", count: 32)), logger: Logger(label: "test")))
            }
        }
    }

    /// Far enough in the future for Redis's expiry (the record's deadline) to be in the future too.
    static func record(_ id: String, createdAt: Date = Date(timeIntervalSince1970: 1_900_000_000)) -> SessionRecord {
        SessionRecord(
            id: SessionID(id)!,
            agent: "demo",
            status: .running,
            pid: 1234,
            pgid: 1234,
            isGroupLeader: true,
            leaderStartTime: 99_887_766,
            createdAt: createdAt,
            expiresAt: createdAt.addingTimeInterval(14_400),
            readyAt: createdAt.addingTimeInterval(0.25),
            metadata: ["room": "r1", "patient": "ünïcode \"quoted\""],
            logPath: "/data/logs/\(id).log",
            node: "node-a"
        )
    }

    /// Every field set, to values that are awkward for some store (an unsigned start time with
    /// the high bit set, fractions of seconds, quotes and non-ASCII text).
    static func fullRecord(_ id: String) -> SessionRecord {
        var record = Self.record(id)
        record.leaderStartTime = UInt64.max - 5
        record.containment = .cgroup
        record.cgroupPath = "/sys/fs/cgroup/corral/s-\(id)"
        record.livekitRoom = "room \"1\""
        record.livekitIdentity = "agent-ü"
        record.start = .warm
        record.processTag = SessionID("idle_123")!
        record.livekitJobID = "AJ_x1"
        record.livekitDispatchID = "AD_y2"
        record.livekitAgentName = "receptionist"
        record.sightings = [ProcessSighting(pid: 4242, startTime: UInt64.max - 3), ProcessSighting(pid: Int32.max, startTime: 0)]
        record.status = .stopping
        return record
    }

    @Test(arguments: kinds)
    func roundTripsEveryField(kind: Kind) async throws {
        try await Self.withStore(kind) { store in
            let record = Self.record("s1")
            try await store.insert(record)
            #expect(try await store.record(record.id) == record)
            let full = Self.fullRecord("s2")
            try await store.insert(full)
            #expect(try await store.record(full.id) == full)
            var minimal = SessionRecord(id: SessionID("s3")!, agent: "a", createdAt: Date(timeIntervalSince1970: 1_900_000_000.5), expiresAt: Date(timeIntervalSince1970: 1_900_000_100), logPath: "/l")
            try await store.insert(minimal)
            #expect(try await store.record(minimal.id) == minimal)
            minimal.pid = 77
            try await store.update(minimal)
            #expect(try await store.record(minimal.id) == minimal)
        }
    }

    /// The SQLite table has a column for every field and no other: a field added to the record
    /// without its migration fails here, not in production.
    @Test func theSQLiteTableHasAColumnPerField() async throws {
        let directory = NSTemporaryDirectory() + "corral-store-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        _ = try SQLiteStore(path: directory + "/corral.db")
        let output = try await CommandRunner.run("/usr/bin/env", ["python3", "-c", "import sqlite3,sys; print(' '.join(r[1] for r in sqlite3.connect(sys.argv[1]).execute('pragma table_info(sessions)')))", directory + "/corral.db"])
        #expect(output.status == 0, "\(output.errors)")
        let columns = Set(output.output.split(whereSeparator: \.isWhitespace).map(String.init))
        #expect(columns == Set(SessionRecord.fields.map(\.column)))
    }

    @Test(arguments: kinds)
    func insertRefusesATakenID(kind: Kind) async throws {
        try await Self.withStore(kind) { store in
            try await store.insert(Self.record("s1"))
            let error = await #expect(throws: CorralError.self) { try await store.insert(Self.record("s1")) }
            #expect(error?.code == .conflict)
        }
    }

    @Test(arguments: kinds)
    func updateDeleteAndList(kind: Kind) async throws {
        try await Self.withStore(kind) { store in
            let first = Self.record("a", createdAt: Date(timeIntervalSince1970: 1_900_000_000))
            var second = Self.record("b", createdAt: Date(timeIntervalSince1970: 1_900_000_100))
            try await store.insert(second)
            try await store.insert(first)
            second.status = .stopping
            try await store.update(second)
            #expect(try await store.record(second.id)?.status == .stopping)
            #expect(try await store.allRecords().map(\.id.rawValue) == ["a", "b"])
            #expect(try await store.records(excluding: [first.id]) == [second])
            #expect(try await store.records(excluding: [first.id, second.id]).isEmpty)
            #expect(try await store.records(excluding: []).map(\.id.rawValue).sorted() == ["a", "b"])
            try await store.delete(first.id)
            try await store.delete(first.id)  // deleting twice is not an error
            #expect(try await store.record(first.id) == nil)
            #expect(try await store.allRecords().map(\.id.rawValue) == ["b"])
        }
    }

    @Test(arguments: kinds)
    func replaceMovesAnIdleAgentsRecordToItsSessionAtomically(kind: Kind) async throws {
        try await Self.withStore(kind) { store in
            var idle = Self.record("idle_1")
            idle.start = .idle
            try await store.insert(idle)
            try await store.insert(Self.record("taken"))
            var session = idle
            session.id = SessionID("call-1")!
            session.start = .warm
            session.processTag = idle.id
            try await store.replace(idle.id, with: session)
            #expect(try await store.record(idle.id) == nil)
            #expect(try await store.record(session.id) == session, "start and process tag round-trip")
            #expect(try await store.allRecords().map(\.id.rawValue).sorted() == ["call-1", "taken"])

            // A taken id changes nothing.
            var other = Self.record("idle_2")
            other.start = .idle
            try await store.insert(other)
            var clash = other
            clash.id = SessionID("taken")!
            let error = await #expect(throws: CorralError.self) { try await store.replace(other.id, with: clash) }
            #expect(error?.code == .conflict)
            #expect(try await store.record(other.id) == other)
            #expect(try await store.record(SessionID("taken")!) == Self.record("taken"))
        }
    }

    @Test func sqliteKeepsRecordsAcrossReopening() async throws {
        let directory = NSTemporaryDirectory() + "corral-store-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let record = Self.record("kept")
        try await SQLiteStore(path: directory + "/corral.db").insert(record)
        #expect(try await SQLiteStore(path: directory + "/corral.db").record(record.id) == record)
        let mode = try FileManager.default.attributesOfItem(atPath: directory + "/corral.db")[.posixPermissions] as? Int
        #expect(mode == 0o600)
    }

    /// The write-ahead log is copied back by the background pass, not by a commit (the backstop
    /// is far above these writes), and then reused from its start instead of growing.
    @Test func sqliteCheckpointsInTheBackground() async throws {
        let directory = NSTemporaryDirectory() + "corral-store-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try SQLiteStore(path: directory + "/corral.db")
        /// Waits for a pass that starts after a batch of writes and copies every frame in the log.
        func writeAndCatchUp() async throws -> Bool {
            for index in 0..<50 { try await store.insert(Self.record("wal-\(index)")) }
            for index in 0..<50 { try await store.delete(SessionID("wal-\(index)")!) }
            let before = store.lastCheckpoint?.number ?? 0
            return await ProcessProbe.waitUntil {
                guard let pass = store.lastCheckpoint, pass.number > before else { return false }
                return pass.walFrameCount > 0 && pass.checkpointedFrameCount == pass.walFrameCount
            }
        }
        /// The log header's checkpoint sequence number: SQLite adds one each time it starts the
        /// log over.
        func logRestarts() throws -> UInt32 {
            let header = try Data(contentsOf: URL(fileURLWithPath: directory + "/corral.db-wal")).prefix(16)
            return header.suffix(4).reduce(0) { $0 << 8 | UInt32($1) }
        }

        #expect(try await writeAndCatchUp())
        let first = try logRestarts()
        #expect(try await writeAndCatchUp())
        #expect(try logRestarts() > first, "the log was not started over after a full checkpoint")
    }
}

@Suite("Redis layout", .enabled(if: RedisServer.available, "\(RedisServer.unavailableReason)"))
struct RedisLayoutTests {
    /// What someone else wrote into Redis is not a record: a hash without this node's signature,
    /// one signed with another secret, one copied under another id, one changed after signing.
    @Test func onlyHashesSignedWithTheClusterSecretAreRecords() async throws {
        try await RedisServer.with { (server: RedisServer) async throws in
            let client = try RedisClient(server.url)
            defer { client.close() }
            let secret = ClusterSecret(String(repeating: "s", count: 32))
            let store = RedisStore(client: client, secret: secret, logger: Logger(label: "test"))
            let stranger = RedisStore(client: client, secret: ClusterSecret(String(repeating: "t", count: 32)), logger: Logger(label: "test"))
            // Whole seconds: what a store keeps of a date is compared below.
            let now = Date(timeIntervalSince1970: (Date().timeIntervalSince1970).rounded())
            func record(_ id: String) -> SessionRecord {
                SessionRecord(id: SessionID(id)!, agent: "demo", pid: 4242, createdAt: now, expiresAt: now + 600, logPath: "/l/\(id).log", node: "n")
            }
            try await store.insert(record("good"))
            try await stranger.insert(record("foreign"))
            try await store.insert(record("changed"))
            try await client.send("HSET", "session:changed", "agentPid", "1")
            try await store.insert(record("original"))
            let copied = try await client.send("HGETALL", "session:original").array?.compactMap(\.string) ?? []
            try await client.send(["HSET", "session:copy"] + copied)
            try await client.send("SADD", "corral:sessions", "copy")
            try await client.send("HSET", "session:bare", "id", "bare", "agent", "demo", "status", "running", "isGroupLeader", "0")
            try await client.send("SADD", "corral:sessions", "bare")

            #expect(try await store.record(SessionID("good")!) == record("good"))
            for id in ["foreign", "changed", "copy", "bare"] {
                #expect(try await store.record(SessionID(id)!) == nil, "\(id) was read as a record")
                guard case .unverified = try await store.stored(SessionID(id)!) else {
                    Issue.record("\(id) is not reported as unverified")
                    continue
                }
            }
            #expect(try await store.allRecords().map(\.id.rawValue).sorted() == ["good", "original"])
            #expect(try await client.send("SISMEMBER", "corral:sessions", "bare").integer == 1, "an unverified hash is left alone")
        }
    }

    @Test func keysAndExpiry() async throws {
        try await RedisServer.with { (server: RedisServer) async throws in
            let client = try RedisClient(server.url)
            defer { client.close() }
            let store = RedisStore(client: client, secret: ClusterSecret(String(repeating: "s", count: 32)), logger: Logger(label: "test"))
            let now = Date()
            var record = SessionRecord(id: SessionID("k1")!, agent: "demo", createdAt: now, expiresAt: now.addingTimeInterval(600), logPath: "/l")
            try await store.insert(record)
            #expect(try await client.send("EXISTS", "agent:k1:pid").integer == 0, "no pid before the spawn")
            record.pid = 4242
            record.pgid = 4242
            try await store.update(record)
            #expect(try await client.send("HGET", "session:k1", "agentPid").string == "4242")
            #expect(try await client.send("HGET", "session:k1", "agentPgid").string == "4242")
            #expect(try await client.send("GET", "agent:k1:pid").string == "4242")
            let sessionTTL = try await client.send("TTL", "session:k1").integer ?? -1
            let pidTTL = try await client.send("TTL", "agent:k1:pid").integer ?? -1
            #expect(sessionTTL > 600 && sessionTTL <= 900, "the session's timeout (plus a margin): \(sessionTTL)")
            #expect(pidTTL > 600 && pidTTL <= 900)
            try await store.delete(record.id)
            #expect(try await client.send("EXISTS", "session:k1", "agent:k1:pid").integer == 0)
            #expect(try await client.send("SISMEMBER", "corral:sessions", "k1").integer == 0)
        }
    }
}
