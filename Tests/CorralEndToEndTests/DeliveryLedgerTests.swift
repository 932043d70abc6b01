import CorralCore
import CorralTestSupport
import Foundation
import RedisClient
import Testing
import CorralStore

/// The ids of deliveries acted on, kept in each store for a time of their own.
@Suite("Delivery ledger")
struct DeliveryLedgerTests {
    typealias Kind = SessionStoreTests.Kind

    static func withLedger(_ kind: Kind, _ body: (any DeliveryLedger) async throws -> Void) async throws {
        try await SessionStoreTests.withStore(kind) { store in try await body(try #require(store as? any DeliveryLedger)) }
    }

    @Test(arguments: SessionStoreTests.kinds)
    func anIDIsClaimedOnceUntilReleased(kind: Kind) async throws {
        try await Self.withLedger(kind) { ledger in
            let until = Date().addingTimeInterval(600)
            #expect(try await ledger.claim("node-a:EV_1", until: until, now: Date()))
            #expect(try await !ledger.claim("node-a:EV_1", until: until, now: Date()))
            #expect(try await ledger.claim("node-b:EV_1", until: until, now: Date()), "another name is another delivery")
            try await ledger.release("node-a:EV_1")
            #expect(try await ledger.claim("node-a:EV_1", until: until, now: Date()))
        }
    }

    /// Of many claims of one id at once, one wins.
    @Test(arguments: SessionStoreTests.kinds)
    func concurrentClaimsHaveOneWinner(kind: Kind) async throws {
        try await Self.withLedger(kind) { ledger in
            let until = Date().addingTimeInterval(600)
            let wins = try await withThrowingTaskGroup(of: Bool.self) { group in
                for _ in 0..<20 { group.addTask { try await ledger.claim("EV_RACE", until: until, now: Date()) } }
                return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
            }
            #expect(wins == 1)
        }
    }

    /// Once its time has passed, an id can be claimed again (by the store's clock for Redis);
    /// that it cannot before is `anIDIsClaimedOnceUntilReleased`.
    @Test(arguments: SessionStoreTests.kinds)
    func anIDExpires(kind: Kind) async throws {
        try await Self.withLedger(kind) { (ledger: any DeliveryLedger) async throws in
            #expect(try await ledger.claim("EV_SHORT", until: Date().addingTimeInterval(1), now: Date()))
            #expect(try await ProcessProbe.waitUntil(timeout: .seconds(20)) { try await ledger.claim("EV_SHORT", until: Date().addingTimeInterval(600), now: Date()) })
        }
    }

    /// The ledger outlives the process that wrote it, and what expired is deleted by the next claim.
    @Test func sqliteKeepsIDsAcrossReopeningAndDeletesExpiredOnes() async throws {
        let directory = NSTemporaryDirectory() + "corral-ledger-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/corral.db"
        let now = Date()
        let first = try SQLiteStore(path: path)
        for index in 0..<50 { #expect(try await first.claim("EV_OLD_\(index)", until: now.addingTimeInterval(10), now: now)) }
        #expect(try await first.claim("EV_KEPT", until: now.addingTimeInterval(600), now: now))

        let reopened = try SQLiteStore(path: path)
        #expect(try await !reopened.claim("EV_KEPT", until: now.addingTimeInterval(600), now: now.addingTimeInterval(1)))
        // A reader in another process was seen to miss the last commit until the background
        // checkpoint (once a second) had copied it: waited for.
        #expect(try await ProcessProbe.waitUntil { try await rows(path) == 51 })
        // A claim after the old ones' time removes them.
        #expect(try await reopened.claim("EV_NEW", until: now.addingTimeInterval(700), now: now.addingTimeInterval(60)))
        #expect(try await ProcessProbe.waitUntil { try await rows(path) == 2 })
    }

    private func rows(_ path: String) async throws -> Int {
        let script = "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('select count(*) from deliveries').fetchone()[0])"
        let output = try await CommandRunner.run("/usr/bin/env", ["python3", "-c", script, path])
        #expect(output.status == 0, "\(output.errors)")
        return Int(output.output.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
    }

    @Test(.enabled(if: RedisServer.available, "\(RedisServer.unavailableReason)"))
    func redisKeepsOneKeyPerIDThatExpires() async throws {
        try await SessionStoreTests.withStore(.redis) { store in
            let redis = try #require(store as? RedisStore)
            #expect(try await redis.claim("livekit-webhook:n1:EV_1", until: Date().addingTimeInterval(360), now: Date()))
            let ttl = try await redis.client.send("TTL", "corral:delivery:livekit-webhook:n1:EV_1").integer ?? -1
            #expect(ttl > 300 && ttl <= 360, "\(ttl)")
            try await redis.release("livekit-webhook:n1:EV_1")
            #expect(try await redis.client.send("EXISTS", "corral:delivery:livekit-webhook:n1:EV_1").integer == 0)
        }
    }
}
