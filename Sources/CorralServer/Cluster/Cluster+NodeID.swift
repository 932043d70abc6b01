import CorralConfiguration
import CorralPlatform
import Foundation
import RedisClient

extension Cluster {
    /// Refuses to start as a node another live corral already is. Two nodes with one `node_id`
    /// (it defaults to the host name) take each other's records for ones they could not have
    /// written and remove them, and overwrite each other's announcement, so requests passed on
    /// to that node reach either. The announcement under this id, if it verifies and is another
    /// corral's (another instance id; from a node without one, another URL), is watched until it
    /// expires (a node that died) or is renewed (its time to live goes up: a node that lives).
    /// Run before the sessions are re-adopted. A Redis that does not answer is left to the checks
    /// that follow.
    public func ensureNodeIDIsFree() async throws(CorralError) {
        var lastTTL: Int64?
        while true {
            guard let answers = try? await client.pipeline([["GET", Self.key(nodeID)], ["PTTL", Self.key(nodeID)]]),
                answers.count == 2, let text = answers[0].string,
                let node = try? JSONDecoder().decode(Node.self, from: Data(text.utf8)),
                node.id == nodeID, secret.verify(node.mac ?? "", node.signed), node.instance.map({ $0 != instanceID }) ?? (node.url != url),
                let ttl = answers[1].integer, ttl > 0
            else { return }
            if let lastTTL, ttl > lastTTL {
                throw CorralError(
                    .configuration,
                    "node_id: another corral is node '\(nodeID)' of this cluster (it announces itself at \(node.url)); give each node a node_id of its own (it defaults to the host name)"
                )
            }
            lastTTL = ttl
            try? await Task.sleep(for: .milliseconds(100))
        }
    }

    /// Refuses to start against a Redis that answers but will not let this node in: a wrong
    /// password, a user without the rights, a password missing, a database number it does not
    /// have. Retrying would not change that; a Redis that does not answer yet may come.
    public func ensureStoreAdmitsThisNode() async throws(CorralError) {
        do {
            _ = try await client.send(["PING"])
        } catch where error.kind == .server && Self.refusesThisNode(error.message) {
            throw CorralError(.configuration, "store: Redis refuses this node: \(error.message); check the user, password and database in the store's URL")
        } catch {
            // Not answering yet, or busy for a while (LOADING, BUSY, MISCONF…): it may come.
            return
        }
    }

    /// Redis's answers to a connection's AUTH and SELECT that no retry changes.
    package static func refusesThisNode(_ message: String) -> Bool {
        let word = message.prefix { !$0.isWhitespace }
        return ["WRONGPASS", "NOAUTH", "NOPERM"].contains(word)
            || (word == "ERR" && ["DB index is out of range", "invalid password", "AUTH"].contains { message.contains($0) })
    }
}
