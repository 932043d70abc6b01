import CorralCore
import CorralSecurity
import Hummingbird

/// In a cluster, a request another node passed on carries that node's `ClusterCredential`
/// instead of the caller's token: the caller is taken from it once it verifies, and a request
/// that claims to be passed on without a valid credential is refused (401), whatever else it
/// carries. Requests that claim nothing go on to the bearer token check.
struct ForwardedCallerMiddleware: RouterMiddleware {
    typealias Context = CorralRequestContext

    let credential: ClusterCredential
    let audit: AuditLog?

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard request.headers[Forwarder.header] != nil || request.headers[ClusterCredential.header] != nil else {
            return try await next(request, context)
        }
        guard let header = request.headers[ClusterCredential.header] else {
            throw refusal("a request passed on by another node must carry \(ClusterCredential.header.rawName)", context)
        }
        let verified: (node: String, caller: Identity)
        do {
            verified = try credential.verify(header, method: request.method.rawValue, target: request.uri.description)
        } catch {
            throw refusal("refused a request passed on by another node: \(error)", context)
        }
        guard request.headers[Forwarder.header] == verified.node else {
            throw refusal("refused a request passed on by another node: its \(Forwarder.header.rawName) is not the signing node", context)
        }
        var context = context
        context.identity = verified.caller
        context.forwardedBy = verified.node
        return try await next(request, context)
    }

    private func refusal(_ message: String, _ context: Context) -> APIError {
        audit?.refused(who: "unknown", action: "authenticate", address: context.remoteHost, result: 401)
        return APIError(.unauthorized, message)
    }
}
