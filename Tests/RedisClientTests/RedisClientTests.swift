import CorralTestSupport
import Foundation
import NIOCore
import Synchronization
import Testing

@testable import RedisClient

@Suite("RESP client against a real redis-server", .enabled(if: RedisServer.available, "\(RedisServer.unavailableReason)"))
struct RedisClientTests {
    @Test func everyCommandTheStoreUses() async throws {
        try await RedisServer.with { (server: RedisServer) async throws in
            let client = try RedisClient(server.url)
            defer { client.close() }
            #expect(try await client.send("PING").string == "PONG")
            try await client.send("SET", "k", "v", "EX", "100")
            #expect(try await client.send("GET", "k").string == "v")
            #expect(try await client.send("GET", "missing").isNull)
            #expect(try await client.send("TTL", "k").integer.map { $0 > 0 && $0 <= 100 } == true)
            try await client.send("HSET", "h", "a", "1", "b", "two words")
            let hash = try await client.send("HGETALL", "h").array?.compactMap(\.string) ?? []
            var fields: [String: String] = [:]
            for index in stride(from: 0, to: hash.count - 1, by: 2) { fields[hash[index]] = hash[index + 1] }
            #expect(fields == ["a": "1", "b": "two words"])
            #expect(try await client.send("EXPIRE", "h", "50").integer == 1)
            try await client.send("SADD", "s", "x", "y")
            #expect(Set(try await client.send("SMEMBERS", "s").array?.compactMap(\.string) ?? []) == ["x", "y"])
            try await client.send("SREM", "s", "x")
            #expect(try await client.send("DEL", "k", "h").integer == 2)
            let script = "if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end redis.call('SET', KEYS[1], ARGV[1]) return 1"
            #expect(try await client.send("EVAL", script, "1", "once", "v").integer == 1)
            #expect(try await client.send("EVAL", script, "1", "once", "v").integer == 0)
            let results = try await client.transaction([["SET", "t1", "1"], ["INCR", "t1"], ["GET", "t1"]])
            #expect(results.map(\.string) == ["OK", "2", "2"])
            // Non-ASCII and binary-ish values survive the round trip.
            try await client.send("SET", "u", "Grüße \r\n *$:-+")
            #expect(try await client.send("GET", "u").string == "Grüße \r\n *$:-+")
        }
    }

    /// A connection turns Nagle off (TCP_NODELAY), and asks for nothing else: TCP_NODELAY's
    /// number at the socket's level is SO_DEBUG, which only CAP_NET_ADMIN may set, so a corral
    /// without that capability (the systemd unit's bounding set) could not connect at all.
    @Test func aConnectionSetsNoDelayAtTCPsLevel() async throws {
        try await RedisServer.with { (server: RedisServer) async throws in
            let connection = try await RedisConnection.connect(
                to: RedisURL(host: "127.0.0.1", port: server.port), connectTimeout: .seconds(10), commandTimeout: .seconds(10)
            )
            defer { connection.close() }
            #expect(try await connection.channel.getOption(.tcpOption(.tcp_nodelay)).get() == 1)
            #expect(try await connection.channel.getOption(.socketOption(NIOBSDSocket.Option(rawValue: SO_DEBUG))).get() == 0)
        }
    }

    @Test func redisErrorsCarryRedisMessage() async throws {
        try await RedisServer.with { (server: RedisServer) async throws in
            let client = try RedisClient(server.url)
            defer { client.close() }
            try await client.send("SET", "string", "x")
            let error = await #expect(throws: RedisError.self) { try await client.send("HGETALL", "string") }
            #expect(error?.kind == .server)
            #expect(error?.message.hasPrefix("WRONGTYPE") == true)
            // The connection is still good afterwards.
            #expect(try await client.send("PING").string == "PONG")
        }
    }

    @Test func pipeliningKeepsOrder() async throws {
        try await RedisServer.with { (server: RedisServer) async throws in
            let client = try RedisClient(server.url)
            defer { client.close() }
            let commands: [[String]] = (0..<200).map { _ in ["INCR", "counter"] }
            let answers = try await client.pipeline(commands)
            let expected: [Int64?] = (1...200).map { Int64($0) }
            #expect(answers.map(\.integer) == expected)
            // Concurrent callers share the pool without mixing answers.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<50 {
                    group.addTask {
                        try await client.send("SET", "key\(index)", "value\(index)")
                        let value = try await client.send("GET", "key\(index)").string
                        #expect(value == "value\(index)")
                    }
                }
                try await group.waitForAll()
            }
        }
    }

    @Test func passwordsAreSentAndWrongOnesRefused() async throws {
        try await RedisServer.with(password: "pa:ss w@rd") { (server: RedisServer) async throws in
            let encoded = "redis://:pa%3Ass%20w%40rd@127.0.0.1:\(server.port)/2"
            let client = try RedisClient(encoded)
            defer { client.close() }
            try await client.send("SET", "db2", "yes")
            #expect(try await client.send("GET", "db2").string == "yes")

            let wrong = try RedisClient("redis://:nope@127.0.0.1:\(server.port)")
            defer { wrong.close() }
            let error = await #expect(throws: RedisError.self) { try await wrong.send("PING") }
            #expect(error?.message.contains("WRONGPASS") == true || error?.message.contains("invalid password") == true, "\(String(describing: error))")
            let anonymous = try RedisClient("redis://127.0.0.1:\(server.port)")
            defer { anonymous.close() }
            let refused = await #expect(throws: RedisError.self) { try await anonymous.send("GET", "db2") }
            #expect(refused?.message.contains("NOAUTH") == true)
        }
    }

    @Test func aServerThatGoesAwayMidCommandFailsItAndComesBack() async throws {
        let server = try await RedisServer().start()
        let client = try RedisClient(server.url)
        defer { client.close() }
        // BLPOP holds the connection; stopping the server drops it mid-command.
        let blocked = Task { try await client.send("BLPOP", "never", "30") }
        try await Task.sleep(for: .milliseconds(200))
        await server.stop()
        let result = await blocked.result
        #expect(throws: RedisError.self) { try result.get() }
        let down = await #expect(throws: RedisError.self) { try await client.send("PING") }
        #expect(down?.kind == .connection)
        // Same port again: the client reconnects (after its backoff).
        let again = RedisServer(port: server.port)
        try await again.start()
        defer { Task { await again.stop() } }
        var answered = false
        for _ in 0..<50 where !answered {
            answered = (try? await client.send("PING").string) == "PONG"
            if !answered { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(answered)
        await again.stop()
    }

    /// One connection, held by a BLPOP until `release` gets a value from another client.
    static func heldPool(_ server: RedisServer) async throws -> (client: RedisClient, other: RedisClient, holder: Task<RESPValue, any Error>) {
        var configuration = RedisClient.Configuration()
        configuration.connections = 1
        configuration.commandTimeout = .seconds(60)
        let client = RedisClient(url: RedisURL(host: "127.0.0.1", port: server.port), configuration: configuration)
        let other = RedisClient(url: RedisURL(host: "127.0.0.1", port: server.port))
        let holder = Task { try await client.send("BLPOP", "release", "50") }
        let blocked = try await ProcessProbe.waitUntil {
            try await other.send("INFO", "clients").string?.contains("blocked_clients:1") == true
        }
        try #require(blocked, "the BLPOP never blocked")
        return (client, other, holder)
    }

    @Test func waitersAreServedInTheOrderTheyCame() async throws {
        try await RedisServer.with { (server: RedisServer) async throws in
            let (client, other, holder) = try await Self.heldPool(server)
            defer {
                client.close()
                other.close()
            }
            var waiters: [Task<RESPValue, any Error>] = []
            for index in 1...6 {
                waiters.append(Task { try await client.send("RPUSH", "order", "\(index)") })
                #expect(await ProcessProbe.waitUntil { client.waitingCallers == index })
            }
            try await other.send("LPUSH", "release", "go")
            _ = try await holder.value
            for waiter in waiters { _ = try await waiter.value }
            #expect(try await other.send("LRANGE", "order", "0", "-1").array?.compactMap(\.string) == ["1", "2", "3", "4", "5", "6"])
            #expect(client.waitingCallers == 0)
        }
    }

    @Test func aCancelledWaiterLeavesAtOnceAndTakesNoConnection() async throws {
        try await RedisServer.with { (server: RedisServer) async throws in
            let (client, other, holder) = try await Self.heldPool(server)
            defer {
                client.close()
                other.close()
            }
            let finished = Flag()
            let waiter = Task {
                defer { finished.set() }
                return try await client.send("RPUSH", "cancelled", "sent")
            }
            #expect(await ProcessProbe.waitUntil { client.waitingCallers == 1 })
            waiter.cancel()
            // While the only connection is still held: the waiter must not wait for it.
            #expect(await ProcessProbe.waitUntil { finished.isSet }, "the cancelled waiter is still waiting")
            #expect(client.waitingCallers == 0)
            let error = await #expect(throws: RedisError.self) { try await waiter.value }
            #expect(error?.kind == .cancelled)

            // The held connection, released, serves the next caller; the cancelled one sent nothing.
            try await other.send("LPUSH", "release", "go")
            _ = try await holder.value
            #expect(try await client.send("PING").string == "PONG")
            #expect(try await other.send("EXISTS", "cancelled").integer == 0)
        }
    }

    @Test func commandTimeout() async throws {
        try await RedisServer.with { (server: RedisServer) async throws in
            var configuration = RedisClient.Configuration()
            configuration.commandTimeout = .milliseconds(300)
            let client = RedisClient(url: RedisURL(host: "127.0.0.1", port: server.port), configuration: configuration)
            defer { client.close() }
            let error = await #expect(throws: RedisError.self) { try await client.send("BLPOP", "nothing", "5") }
            #expect(error?.kind == .timeout)
            // It serves again (a PING may itself miss the 300 ms on a busy host: asked again).
            #expect(await ProcessProbe.waitUntil(timeout: .seconds(30)) { (try? await client.send("PING"))?.string == "PONG" })
        }
    }

    @Test(arguments: [
        ("redis://localhost", "localhost", 6379, 0, nil as String?),
        ("redis://:secret@db.internal:6380/3", "db.internal", 6380, 3, "secret"),
        ("redis://user:pw@127.0.0.1:7000", "127.0.0.1", 7000, 0, "pw"),
        // A password with `/` and `@` as generated ones have, not percent-encoded.
        ("redis://user:p/w@x+y@127.0.0.1:7000/2", "127.0.0.1", 7000, 2, "p/w@x+y"),
        ("redis://[::1]:7001", "::1", 7001, 0, nil),
    ])
    func urls(text: String, host: String, port: Int, database: Int, password: String?) throws {
        let url = try RedisURL(parsing: text)
        #expect(url.host == host && url.port == port && url.database == database && url.password == password)
    }

    @Test func badURLsAreRefusedClearly() {
        let tls = #expect(throws: RedisError.self) { try RedisURL(parsing: "rediss://host:6379") }
        #expect(tls?.message.contains("TLS") == true)
        #expect(throws: RedisError.self) { try RedisURL(parsing: "http://host") }
        #expect(throws: RedisError.self) { try RedisURL(parsing: "redis://host:99999") }
        #expect(throws: RedisError.self) { try RedisURL(parsing: "redis://host/x") }
        let spaced = #expect(throws: RedisError.self) { try RedisURL(parsing: "redis:// 127.0.0.1:7380") }
        #expect(spaced?.message.contains("not a host name or address") == true)
        #expect(throws: RedisError.self) { try RedisURL(parsing: "redis://host;rm:6379") }
    }
}

private final class Flag: Sendable {
    private let value = Mutex(false)
    var isSet: Bool { value.withLock { $0 } }
    func set() { value.withLock { $0 = true } }
}
