import Hummingbird

/// `Authorization: Bearer <api_token>` on every route it guards. The comparison takes the same
/// time wherever the first difference is.
struct BearerAuthMiddleware<Context: RequestContext>: RouterMiddleware {
    let token: [UInt8]

    init(token: String) {
        self.token = Array(token.utf8)
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let header = request.headers[.authorization], header.count > 7,
            header.prefix(7).lowercased() == "bearer ",
            Self.constantTimeEqual(Array(header.dropFirst(7).utf8), token)
        else {
            throw APIError(.unauthorized, "missing or invalid bearer token", headers: [.wwwAuthenticate: "Bearer realm=\"corral\""])
        }
        return try await next(request, context)
    }

    static func constantTimeEqual(_ given: [UInt8], _ expected: [UInt8]) -> Bool {
        var difference = UInt8(given.count == expected.count ? 0 : 1)
        for index in 0..<expected.count {
            difference |= expected[index] ^ (index < given.count ? given[index] : 0)
        }
        return difference == 0
    }
}
