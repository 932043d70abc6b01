import CorralCore
import CorralPlatform
import CorralSecurity
import HTTPTypes
import Hummingbird

/// Writes an audit line for a route that names an action (`Route.audit`: start, end, inspect,
/// logs) with who, which session, from where and the answer's status, whether the request
/// succeeded or not. What was done is a line of its own; a request refused or failed (a 403 for
/// the caller's role, a 404 for an unknown session, a 400) did nothing and costs its caller
/// nothing, so it is summed up per token, address and kind (`AuditLog.refused`), as refused
/// authentications are per address: a token of any role cannot flood what was done out of the
/// log. Reads that succeed (inspections, log reads) are lines of their own too, within a share
/// of the file of their own (`AuditLog.read`), so they cannot flood it either.
struct AuditMiddleware: RouterMiddleware {
    typealias Context = CorralRequestContext

    let audit: AuditLog
    let action: String
    /// The header a start handler puts its new session's id in, for this middleware.
    static let sessionHeader = HTTPField.Name("Corral-Session-Id")!

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let status: Int
        var session = context.parameters.get("id")
        do {
            let response = try await next(request, context)
            status = response.status.code
            session = session ?? response.headers[Self.sessionHeader]
            record(action, request.method, context, session, status)
            return response
        } catch {
            status = (error as? APIError)?.status.code ?? (error as? CorralError).map { APIError($0).status.code } ?? 500
            record(action, request.method, context, session, status)
            throw error
        }
    }

    private func record(_ action: String, _ method: HTTPRequest.Method, _ context: Context, _ session: String?, _ status: Int) {
        let caller = context.caller
        guard status < 400 else {
            audit.refused(who: caller.name, role: caller.role, action: action, session: session, address: context.remoteHost, result: status)
            return
        }
        let entry = AuditLog.Entry(who: caller.name, role: caller.role, action: action, session: session, address: context.remoteAddress, result: status)
        // A read changed nothing: it must not push the record of what did out of the file.
        if method == .get { audit.read(entry, host: context.remoteHost) } else { audit.record(entry) }
    }
}
