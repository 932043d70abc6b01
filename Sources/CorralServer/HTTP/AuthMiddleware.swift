import CorralCore
import CorralSecurity
import Crypto
import Hummingbird
import CorralConfiguration

/// `Authorization: Bearer <token>` on every route it guards, matched by SHA-256 against the
/// configured tokens (the plain `api_token` is one of them, as admin). Every comparison takes the
/// same time wherever the bytes differ, and every token is compared, so timing says nothing about
/// which one nearly matched.
struct AuthMiddleware: RouterMiddleware {
    typealias Context = CorralRequestContext

    let tokens: [AccessToken]
    let audit: AuditLog?

    init(configuration: CorralConfiguration, audit: AuditLog?) {
        var tokens = configuration.tokens
        if let apiToken = configuration.apiToken {
            tokens.append(AccessToken(name: "api_token", sha256: Array(SHA256.hash(data: Array(apiToken.utf8))), role: .admin))
        }
        self.tokens = tokens
        self.audit = audit
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        // A request another node passed on was vouched for by its cluster credential.
        if context.forwardedBy != nil { return try await next(request, context) }
        var context = context
        guard let identity = identify(request) else {
            audit?.refused(who: "unknown", action: "authenticate", address: context.remoteHost, result: 401)
            throw APIError(.unauthorized, "missing or invalid bearer token", headers: [.wwwAuthenticate: "Bearer realm=\"corral\""])
        }
        context.identity = identity
        return try await next(request, context)
    }

    private func identify(_ request: Request) -> Identity? {
        guard let header = request.headers[.authorization], header.count > 7, header.prefix(7).lowercased() == "bearer " else {
            return nil
        }
        let digest = Array(SHA256.hash(data: Array(header.dropFirst(7).utf8)))
        var found: Identity?
        for token in tokens where Self.constantTimeEqual(digest, token.sha256) {
            found = Identity(name: token.name, role: token.role)
        }
        return found
    }

    static func constantTimeEqual(_ given: [UInt8], _ expected: [UInt8]) -> Bool {
        var difference = UInt8(given.count == expected.count ? 0 : 1)
        for index in 0..<expected.count {
            difference |= expected[index] ^ (index < given.count ? given[index] : 0)
        }
        return difference == 0
    }
}
