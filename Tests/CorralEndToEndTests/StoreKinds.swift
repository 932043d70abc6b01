import CorralCore
import CorralTestSupport
import Testing
import CorralConfiguration

/// The stores the session suites run against: SQLite always, Redis where redis-server is
/// installed (`.ci/run` installs it).
enum StoreKind: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite
    case redis

    var testDescription: String { rawValue }
}

let testedStores: [StoreKind] = {
    guard RedisServer.available else {
        print("note: \(RedisServer.unavailableReason)")
        return [.sqlite]
    }
    return StoreKind.allCases
}()

/// Runs `body` with a store of that kind (a redis-server of its own for Redis).
func withStore(_ kind: StoreKind, _ body: (CorralConfiguration.StoreLocation) async throws -> Void) async throws {
    switch kind {
    case .sqlite:
        try await body(.sqlite(path: "corral.db"))
    case .redis:
        try await RedisServer.with { (server: RedisServer) async throws in try await body(.redis(url: server.url)) }
    }
}
