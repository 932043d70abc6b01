import CorralPlatform
import CorralSecurity
import CorralTestSupport
import Foundation
import GRDB
import Logging
import RedisClient
import Testing

@testable import CorralStore

#if canImport(Glibc)
import Glibc
#endif

/// `/readyz` says whether a session started now could be kept: not while the data directory's
/// filesystem is full (it said "ready", and every start failed), nor while the store takes no
/// write (its probe is one).
@Suite("Readiness of the host")
struct ReadinessTests {
    @Test(.enabled(if: geteuid() == 0, "the data directory is on a small tmpfs of its own, mounted"))
    func readyzTellsOfAFullDataDirectory() async throws {
        let mountPoint = NSTemporaryDirectory() + "corral-small-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: mountPoint) }
        let mounted = try await CommandRunner.run("/bin/mount", ["-t", "tmpfs", "-o", "size=8m,mode=0755", "tmpfs", mountPoint])
        try #require(mounted.status == 0, "\(mounted.errors)")
        defer { _ = umount2(mountPoint, Int32(MNT_DETACH)) }

        let corral = TestCorral(store: .sqlite(path: mountPoint + "/data/corral.db"), configure: { $0.dataDirectory = mountPoint + "/data" })
        try await corral.run { client in
            #expect(try await client.request(.get, "/readyz").status == .ok)

            let filler = mountPoint + "/filler"
            Self.fill(filler)
            let full = try await client.request(.get, "/readyz")
            #expect(full.status == .serviceUnavailable)
            #expect((full.json["error"] as? String)?.contains("filesystem is full") == true, "\(full.text)")
            #expect(!full.text.contains(mountPoint), "the probe needs no token: it names no path")
            // A start refused for it says SQLite's code and message, not the statement (an insert
            // quoted all 23 columns). It may be taken, where the store's log has room left.
            let start = try await client.request(.post, "/api/sessions", body: #"{"session_id": "on-a-full-disk"}"#)
            #expect(!start.text.contains("INSERT"), "\(start.text)")
            if start.status == .created { _ = try await client.request(.delete, "/api/sessions/on-a-full-disk") }
            unlink(filler)
            #expect(try await ProcessProbe.waitUntil { try await client.request(.get, "/readyz").status == .ok })
        }
    }

    /// The SQLite store's probe is a write, as a start's would be: a store that reads but cannot
    /// write (a full disk once the log has no room left, a read-only file) fails it. (On the full
    /// tmpfs above it failed 20 of 20 tries; it is not asserted there, as a checkpoint in between
    /// lets the log start over in room it already has.)
    @Test func theSQLiteStoresProbeIsAWrite() async throws {
        let directory = NSTemporaryDirectory() + "corral-probe-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try SQLiteStore(path: directory + "/corral.db")
        let before = Date().timeIntervalSince1970
        try await store.ping()
        let written = try await store.pool.read { db in try Double.fetchAll(db, sql: "SELECT at FROM write_probe") }
        #expect(written.count == 1 && written[0] >= before.rounded(.down), "\(written)")
    }

    /// So is the Redis store's: a Redis out of memory under `noeviction` refuses every write and
    /// still answers PING (the probe it was).
    @Test func theRedisStoresProbeIsAWrite() async throws {
        try await RedisServer.with { (server: RedisServer) async throws in
            let client = try RedisClient(server.url)
            defer { client.close() }
            let store = RedisStore(client: client, secret: ClusterSecret(String(repeating: "s", count: 32)), logger: Logger(label: "test"))
            try await store.ping()
            try await client.send(["CONFIG", "SET", "maxmemory-policy", "noeviction"])
            try await client.send(["CONFIG", "SET", "maxmemory", "1"])
            await #expect(throws: CorralError.self) { try await store.ping() }
            try await client.send(["CONFIG", "SET", "maxmemory", "0"])
            try await store.ping()
        }
    }

    /// Writes zeros to `path` until the filesystem refuses more.
    private static func fill(_ path: String) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return }
        defer { close(fd) }
        let chunk = [UInt8](repeating: 0, count: 1 << 16)
        while chunk.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) > 0 {}
    }
}
