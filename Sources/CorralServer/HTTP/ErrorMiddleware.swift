import CorralCore
import CorralPlatform
import Hummingbird
import Logging

/// Every error leaves the server as `{"error": "<message>"}` with a fitting status; nothing a
/// client sends can turn into a crash or an empty 500.
struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    /// Every route, for the methods a path has (405).
    let routes: [Route]

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            return try error.response(from: request, context: context)
        } catch let error as CorralError {
            if error.code != .notFound && error.code != .invalidInput && error.code != .conflict {
                context.logger.warning("request failed", metadata: ["error": "\(error)", "path": "\(request.uri.path)"])
            }
            return try APIError(error).response(from: request, context: context)
        } catch let error as HTTPError {
            let message: String
            switch error.status {
            case .notFound where error.body == nil:
                // A path that exists with other methods: 405, and which methods it has.
                let allowed = Routes.methods(allowedOn: request.uri.path, in: routes)
                if !allowed.isEmpty {
                    return try APIError(
                        .methodNotAllowed,
                        "\(request.method) is not allowed on \(request.uri.path); use \(allowed.joined(separator: ", "))",
                        headers: [.allow: allowed.joined(separator: ", ")]
                    ).response(from: request, context: context)
                }
                message = "no route \(request.method) \(request.uri.path)"
            case .notFound: message = error.body ?? "no route \(request.method) \(request.uri.path)"
            case .contentTooLarge: message = "request body too large"
            case .requestHeaderFieldsTooLarge: message = "request headers too large"
            default: message = error.body ?? error.status.reasonPhrase
            }
            return try APIError(error.status, message, headers: error.headers).response(from: request, context: context)
        } catch let error as any HTTPResponseError {
            return try APIError(error.status, error.status.reasonPhrase).response(from: request, context: context)
        } catch {
            context.logger.error("unexpected error", metadata: ["error": "\(error)", "path": "\(request.uri.path)"])
            return try APIError(.internalServerError, "internal error: \(error)").response(from: request, context: context)
        }
    }
}
