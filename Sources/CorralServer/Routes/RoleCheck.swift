import CorralCore
import CorralSecurity
import Hummingbird

/// Refuses a caller below the route's role (403), once for every route that declares one: with
/// tokens the caller is the token's, without them `Identity.unauthenticated`.
struct RoleCheck: RouterMiddleware {
    typealias Context = CorralRequestContext

    let role: Role

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        try context.require(role)
        return try await next(request, context)
    }
}
