import AsyncHTTPClient
import CorralCore
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import NIOHTTP1

/// Passes a request on to the node that runs the session, with the caller's own credentials, and
/// hands its answer back unchanged, as it comes: a followed log or any long answer is streamed
/// through, never gathered first (a follow would wait for its session's end).
struct Forwarder: Sendable {
    /// Marks a forwarded request, so it is never forwarded again.
    static let header = HTTPField.Name("Corral-Forwarded-By")!

    let nodeID: String

    /// One client for the process (an HTTPClient must be shut down before it goes away; this
    /// one never goes away). A node that does not answer fails fast: no retried connects.
    private static let client: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.timeout = .init(connect: .seconds(3))
        configuration.connectionPool.retryConnectionEstablishment = false
        return HTTPClient(eventLoopGroup: .singletonMultiThreadedEventLoopGroup, configuration: configuration)
    }()

    private var client: HTTPClient { Self.client }

    init(nodeID: String) {
        self.nodeID = nodeID
    }

    func forward(_ request: Request, body: ByteBuffer?, to node: Cluster.Node) async throws -> Response {
        var outgoing = HTTPClientRequest(url: node.url + request.uri.description)
        outgoing.method = HTTPMethod(rawValue: request.method.rawValue)
        if let authorization = request.headers[.authorization] { outgoing.headers.add(name: "Authorization", value: authorization) }
        outgoing.headers.add(name: Self.header.rawName, value: nodeID)
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
