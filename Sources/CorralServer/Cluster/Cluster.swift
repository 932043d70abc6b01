import CorralCore
import CorralPlatform
import CorralSecurity
import Foundation
import Logging
import RedisClient
import ServiceLifecycle
import Synchronization
import CorralStore
import CorralConfiguration

/// Several corral nodes sharing one Redis: each announces itself with a heartbeat (a key that
/// expires after three missed beats) holding its URL and load; every node can list the others.
/// The announcement is signed with the cluster secret: a node record someone else wrote into
/// Redis (a URL of their choosing) is never listed, so no request is ever passed on to it.
public final class Cluster: Service {
    public struct Node: Sendable, Codable, Equatable {
        public let id: String
        public let url: String
        public let sessions: Int
        public let capacity: Int
        /// The announcing corral's `CORRAL_INSTANCE_ID` (its data directory's): two corrals
        /// with one `node_id` are told apart by it, whatever URL they announce. Not signed, so
        /// that nodes from before it still verify each other's announcements; forged, it could
        /// only keep a node from starting (`ensureNodeIDIsFree`).
        var instance: String?
        /// Set by the reader: the heartbeat key exists.
        public var live: Bool = true
        /// The cluster secret's signature of the fields above.
        var mac: String?

        enum CodingKeys: String, CodingKey { case id, url, sessions, capacity, instance, mac }

        /// What the signature covers.
        var signed: [String] { ["corral-node-v1", id, url, String(sessions), String(capacity)] }
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
    /// Every node's session records.
    let store: RedisStore
    var client: RedisClient { store.client }
    var secret: ClusterSecret { store.secret }
    /// Signs the requests this node passes on, and checks those passed on to it.
    let credential: ClusterCredential
    let supervisor: Supervisor
    let logger: Logger
    /// Node records already reported as unverified, by id and content.
    private let reported = FirstSighting()
    /// This corral's `CORRAL_INSTANCE_ID`, announced with it.
    let instanceID: String

    init(configuration: CorralConfiguration, store: RedisStore, supervisor: Supervisor, instanceID: String, logger: Logger) {
        nodeID = configuration.nodeID
        self.instanceID = instanceID
        advertised = Mutex(configuration.resolvedAdvertiseURL)
        urlConfigured = configuration.advertiseURL != nil
        capacity = configuration.maxSessions
        interval = .seconds(configuration.heartbeatIntervalSeconds)
        self.store = store
        credential = ClusterCredential(secret: store.secret)
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
            var nextPrune = ContinuousClock.now
            while !Task.isCancelled {
                await self.beat()
                if ContinuousClock.now >= nextPrune {
                    nextPrune = .now + .seconds(3600)
                    await self.forgetDepartedNodes()
                }
                try? await Task.sleep(for: self.interval)
            }
        }
        // Leaving cleanly: the others should not wait for the key to expire, nor list it.
        _ = try? await client.transaction([["DEL", Self.key(nodeID)], ["SREM", Self.members, nodeID]])
    }

    /// Takes out of the list of nodes those gone for a day: no announcement, and no mark of their
    /// writes (`RedisStore.writesMark`, renewed at every beat of a node and kept a day). Nodes
    /// named for short-lived hosts (pods) would otherwise make it grow for ever, and every
    /// listing reads each one.
    func forgetDepartedNodes() async {
        guard let ids = try? await client.send(["SMEMBERS", Self.members]).array?.compactMap(\.string), !ids.isEmpty,
            let answers = try? await client.pipeline(ids.map { ["EXISTS", Self.key($0), RedisStore.writesMark($0)] })
        else { return }
        let departed = zip(ids, answers).filter { $0.1.integer == 0 }.map(\.0)
        guard !departed.isEmpty else { return }
        _ = try? await client.send(["SREM", Self.members] + departed)
        logger.info("nodes gone for a day taken out of the cluster's list", metadata: ["nodes": "\(departed.joined(separator: ","))"])
    }

    private func beat() async {
        guard announceable else { return }
        var node = Node(id: nodeID, url: url, sessions: await supervisor.sessionCount, capacity: capacity)
        node.instance = instanceID
        node.mac = secret.sign(node.signed)
        guard let data = try? JSONEncoder().encode(node) else { return }
        // Three beats; a fraction of a second counts (0.9 s beats are kept 3 s, not 1).
        let seconds = String(max(1, Int((interval / .seconds(1) * 3).rounded(.up))))
        do {
            _ = try await client.transaction([
                ["SET", Self.key(nodeID), String(decoding: data, as: UTF8.self), "EX", seconds],
                ["SADD", Self.members, nodeID],
            ])
        } catch {
            logger.warning("cluster heartbeat failed", metadata: ["error": "\(error)"])
        }
    }

    /// Every node that ever announced itself, with whether its heartbeat is current. A node
    /// whose announcement does not verify is left out (and logged once).
    public func nodes() async throws(RedisError) -> [Node] {
        let ids = (try await client.send(["SMEMBERS", Self.members]).array ?? []).compactMap(\.string).sorted()
        guard !ids.isEmpty else { return [] }
        let answers = try await client.pipeline(ids.map { ["GET", Self.key($0)] })
        return zip(ids, answers).compactMap { id, answer in
            guard let text = answer.string else { return Node(id: id, url: "", sessions: 0, capacity: 0, live: false) }
            guard let node = try? JSONDecoder().decode(Node.self, from: Data(text.utf8)), node.id == id,
                secret.verify(node.mac ?? "", node.signed)
            else {
                reportUnverified(id, text)
                return nil
            }
            return node
        }
    }

    private func reportUnverified(_ id: String, _ text: String) {
        guard reported.isFirst(id + " " + text) else { return }
        var advice = "no request is passed on to it"
        if !secret.isShared { advice += "; if it is another corral node, \(ClusterSecret.keyHint)" }
        logger.warning(
            "a node record in Redis does not carry a valid signature of this node's cluster secret; \(advice)",
            metadata: ["key": "\(Self.key(id))"]
        )
    }
}
