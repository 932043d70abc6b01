import CorralCore
import HTTPTypes
import Hummingbird

/// Writes an audit line for the actions that matter (start, end, inspect, logs) with who, which
/// session, from where and the answer's status, whether the request succeeded or not.
struct AuditMiddleware: RouterMiddleware {
    typealias Context = CorralRequestContext

    let audit: AuditLog
    /// The header a start handler puts its new session's id in, for this middleware.
    static let sessionHeader = HTTPField.Name("Corral-Session-Id")!

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let action = Self.action(request.method, context.endpointPath ?? "") else {
            return try await next(request, context)
        }
        let status: Int
        var session = context.parameters.get("id")
        do {
            let response = try await next(request, context)
            status = response.status.code
            session = session ?? response.headers[Self.sessionHeader]
            record(action, context, session, status)
            return response
        } catch {
            status = (error as? APIError)?.status.code ?? (error as? CorralError).map { APIError($0).status.code } ?? 500
            record(action, context, session, status)
            throw error
        }
    }

    private func record(_ action: String, _ context: Context, _ session: String?, _ status: Int) {
        let caller = context.caller
        audit.record(.init(who: caller.name, role: caller.role, action: action, session: session, address: context.remoteAddress, result: status))
    }

    /// The action of a route, by its pattern as the router reports it (`{id}` for parameters).
    static func action(_ method: HTTPRequest.Method, _ path: String) -> String? {
        switch (method, path) {
        case (.post, "/api/sessions"): "start"
        case (.delete, "/api/sessions/{id}"): "end"
        case (.get, "/api/debug/session/{id}/processes"): "inspect"
        case (.get, "/api/sessions/{id}/logs"): "logs"
        default: nil
        }
    }
}
