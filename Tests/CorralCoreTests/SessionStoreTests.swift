import CorralCore
import Foundation
import Testing

@Suite("Session stores")
struct SessionStoreTests {
    enum Kind: String, CaseIterable, Sendable { case memory, sqlite }

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
        }
    }

    static func record(_ id: String, createdAt: Date = Date(timeIntervalSince1970: 1_800_000_000)) -> SessionRecord {
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
            logPath: "/data/logs/\(id).log"
        )
    }

    @Test(arguments: Kind.allCases)
    func roundTripsEveryField(kind: Kind) async throws {
        try await Self.withStore(kind) { store in
            let record = Self.record("s1")
            try await store.insert(record)
            #expect(try await store.record(record.id) == record)
        }
    }

    @Test(arguments: Kind.allCases)
    func insertRefusesATakenID(kind: Kind) async throws {
        try await Self.withStore(kind) { store in
            try await store.insert(Self.record("s1"))
            let error = await #expect(throws: CorralError.self) { try await store.insert(Self.record("s1")) }
            #expect(error?.code == .conflict)
        }
    }

    @Test(arguments: Kind.allCases)
    func updateDeleteAndList(kind: Kind) async throws {
        try await Self.withStore(kind) { store in
            let first = Self.record("a", createdAt: Date(timeIntervalSince1970: 1_800_000_000))
            var second = Self.record("b", createdAt: Date(timeIntervalSince1970: 1_800_000_100))
            try await store.insert(second)
            try await store.insert(first)
            second.status = .stopping
            try await store.update(second)
            #expect(try await store.record(second.id)?.status == .stopping)
            #expect(try await store.allRecords().map(\.id.rawValue) == ["a", "b"])
            try await store.delete(first.id)
            try await store.delete(first.id)  // deleting twice is not an error
            #expect(try await store.record(first.id) == nil)
            #expect(try await store.allRecords().map(\.id.rawValue) == ["b"])
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
}
