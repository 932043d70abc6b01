import CorralCore
import CorralPlatform
import CorralSecurity
import Hummingbird
import NIOCore
import CorralStore

/// What the routes need to answer for the whole cluster: the store (every node's records), the
/// live nodes, and a way to pass a request on to the node that runs a session. Only records and
/// node announcements signed with the cluster secret are believed.
struct ClusterRouting: Sendable {
    let cluster: Cluster
    let forwarder: Forwarder
    var store: RedisStore { cluster.store }

    /// A session's record on another node, and that node (nil if it never announced itself).
    struct Remote {
        let record: SessionRecord
        let node: Cluster.Node?
    }

    /// The session's record if another node runs it. A record whose signature does not verify is
    /// nobody's: it is refused with what to set, since it is most likely another node's written
    /// with another secret.
    func locate(_ id: SessionID) async throws -> Remote? {
        let record: SessionRecord
        switch try await store.stored(id) {
        case .missing: return nil
        case .verified(let verified): record = verified
        case .unverified(let claimed):
            throw APIError(
                .serviceUnavailable,
                "the record of session '\(id)' in Redis (it names node \(claimed ?? "none")) is not signed with this node's cluster secret, "
                    + "so this node does not act on it; if another corral node runs it, \(ClusterSecret.keyHint)"
            )
        }
        guard record.isSession, record.node != nil, record.node != cluster.nodeID else { return nil }
        let nodes = (try? await cluster.nodes()) ?? []
        return Remote(record: record, node: nodes.first { $0.id == record.node })
    }

    /// Records of sessions on other nodes, each with whether its node is alive.
    func remoteSessions() async throws -> [(SessionRecord, live: Bool)] {
        let nodes = Dictionary(((try? await cluster.nodes()) ?? []).map { ($0.id, $0.live) }) { first, _ in first }
        return try await store.allRecords().compactMap { record in
            guard record.isSession, let node = record.node, node != cluster.nodeID else { return nil }
            return (record, nodes[node] ?? false)
        }
    }

    /// Sends the request to the node running `remote`, or explains that it cannot be reached.
    func forward(_ request: Request, body: ByteBuffer? = nil, to remote: Remote, caller: Identity) async throws -> Response {
        guard let node = remote.node, node.live else {
            throw APIError(
                .serviceUnavailable,
                "session '\(remote.record.id)' runs on node \(remote.record.node ?? "?"), which is not answering; it shows as lost until that node is back"
            )
        }
        return try await forwarder.forward(request, body: body, to: node, caller: caller)
    }

    /// The live node (not this one) with the most room, for a start this node has no room for.
    func nodeWithRoom() async -> Cluster.Node? {
        ((try? await cluster.nodes()) ?? [])
            .filter { $0.live && $0.id != cluster.nodeID && $0.sessions < $0.capacity }
            .min { ($0.sessions, $0.id) < ($1.sessions, $1.id) }
    }

    /// Whether another node passed this request on (its credential verified): it is answered
    /// here, never passed on again.
    static func isForwarded(_ context: CorralRequestContext) -> Bool {
        context.forwardedBy != nil
    }
}
