import CorralCore
import Foundation
import Logging
import RedisClient
import ServiceLifecycle
import Synchronization

/// Several corral nodes sharing one Redis: each announces itself with a heartbeat (a key that
/// expires after three missed beats) holding its URL and load; every node can list the others.
public final class Cluster: Service {
    public struct Node: Sendable, Codable, Equatable {
        public let id: String
        public let url: String
        public let sessions: Int
        public let capacity: Int
        /// Set by the reader: the heartbeat key exists.
        public var live: Bool = true

        enum CodingKeys: String, CodingKey { case id, url, sessions, capacity }
    }

    static let members = "corral:nodes"
    static func key(_ node: String) -> String { "corral:node:\(node)" }

    public let nodeID: String
    /// As configured or derived from `listen`; with port 0, fixed once the server is bound.
    private let advertised: Mutex<String>
    private let urlConfigured: Bool
    var url: String { advertised.withLock { $0 } }
    let capacity: Int
    let interval: Duration
    let client: RedisClient
    let supervisor: Supervisor
    let logger: Logger

    init(configuration: CorralConfiguration, client: RedisClient, supervisor: Supervisor, logger: Logger) {
        nodeID = configuration.nodeID
        advertised = Mutex(configuration.resolvedAdvertiseURL)
        urlConfigured = configuration.advertiseURL != nil
        capacity = configuration.maxSessions
        interval = .seconds(configuration.heartbeatIntervalSeconds)
        self.client = client
        self.supervisor = supervisor
        self.logger = logger
    }

    /// The server is listening: with `listen` on port 0, the real port goes into the URL.
    func serverStarted(port: Int?) async {
        if !urlConfigured, let port {
            advertised.withLock { url in
                if let colon = url.lastIndex(of: ":"), url[url.index(after: colon)...].allSatisfy(\.isNumber) {
                    url = String(url[..<colon]) + ":\(port)"
                }
            }
        }
        await beat()
    }

    /// Until the server is bound, a URL ending in port 0 names nothing: do not announce it.
    private var announceable: Bool { !url.hasSuffix(":0") }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await self.beat()
                try? await Task.sleep(for: self.interval)
            }
        }
        // Leaving cleanly: the others should not wait for the key to expire.
        _ = try? await client.send(["DEL", Self.key(nodeID)])
    }

    private func beat() async {
        guard announceable else { return }
        let node = Node(id: nodeID, url: url, sessions: await supervisor.sessionCount, capacity: capacity)
        guard let data = try? JSONEncoder().encode(node) else { return }
        let seconds = String(max(1, Int((Double(interval.components.seconds) * 3).rounded(.up))))
        do {
            _ = try await client.transaction([
                ["SET", Self.key(nodeID), String(decoding: data, as: UTF8.self), "EX", seconds],
                ["SADD", Self.members, nodeID],
            ])
        } catch {
            logger.warning("cluster heartbeat failed", metadata: ["error": "\(error)"])
        }
    }

    /// Every node that ever announced itself, with whether its heartbeat is current.
    public func nodes() async throws(RedisError) -> [Node] {
        let ids = (try await client.send(["SMEMBERS", Self.members]).array ?? []).compactMap(\.string).sorted()
        guard !ids.isEmpty else { return [] }
        let answers = try await client.pipeline(ids.map { ["GET", Self.key($0)] })
        return zip(ids, answers).map { id, answer in
            if let text = answer.string, let node = try? JSONDecoder().decode(Node.self, from: Data(text.utf8)) { return node }
            return Node(id: id, url: "", sessions: 0, capacity: 0, live: false)
        }
    }
}
