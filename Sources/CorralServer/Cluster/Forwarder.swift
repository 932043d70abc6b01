import AsyncHTTPClient
import CorralCore
import CorralSecurity
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import NIOHTTP1

/// Passes a request on to the node that runs the session, vouched for by this node's
/// `ClusterCredential` (the caller's own token never leaves this node), and hands its answer back
/// unchanged, as it comes: a followed log or any long answer is streamed through, never gathered
/// first (a follow would wait for its session's end).
struct Forwarder: Sendable {
    /// Marks a forwarded request, so it is never forwarded again.
    static let header = HTTPField.Name("Corral-Forwarded-By")!

    let nodeID: String
    let credential: ClusterCredential

    /// One client for the process (an HTTPClient must be shut down before it goes away; this
    /// one never goes away). A node that does not answer fails fast: no retried connects.
    private static let client: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.timeout = .init(connect: .seconds(3))
        configuration.connectionPool.retryConnectionEstablishment = false
        return HTTPClient(eventLoopGroup: .singletonMultiThreadedEventLoopGroup, configuration: configuration)
    }()

    private var client: HTTPClient { Self.client }

    init(nodeID: String, credential: ClusterCredential) {
        self.nodeID = nodeID
        self.credential = credential
    }

    /// Passes `request` on to `node` for `caller`. Only with a secret the nodes share: this
    /// node's own (made for a node alone) would be refused there, and says the other node was
    /// never configured to trust this one.
    func forward(_ request: Request, body: ByteBuffer?, to node: Cluster.Node, caller: Identity) async throws -> Response {
        guard credential.secret.isShared else {
            throw APIError(
                .serviceUnavailable,
                "this request is for node \(node.id), and this node passes nothing on to another without a shared cluster secret: "
                    + ClusterSecret.keyHint
            )
        }
        var outgoing = HTTPClientRequest(url: node.url + request.uri.description)
        outgoing.method = HTTPMethod(rawValue: request.method.rawValue)
        outgoing.headers.add(name: Self.header.rawName, value: nodeID)
        outgoing.headers.add(
            name: ClusterCredential.header.rawName,
            value: credential.sign(method: request.method.rawValue, target: request.uri.description, node: nodeID, caller: caller)
        )
        if let body {
            outgoing.headers.add(name: "Content-Type", value: "application/json")
            outgoing.body = .bytes(body)
        }
        let response: HTTPClientResponse
        do {
            response = try await client.execute(outgoing, timeout: .minutes(10))
        } catch {
            throw APIError(.serviceUnavailable, "node \(node.id) (\(node.url)) did not answer: \(error)")
        }
        var headers: HTTPFields = [:]
        for (name, value) in response.headers where ["content-type", "retry-after", "corral-session-id"].contains(name.lowercased()) {
            if let field = HTTPField.Name(name) { headers[field] = value }
        }
        // The timeout above bounds the wait for the answer's head; the body may take as long as
        // the node streams it, and stops when the caller goes.
        return Response(status: .init(code: Int(response.status.code)), headers: headers, body: .init(asyncSequence: response.body))
    }
}
