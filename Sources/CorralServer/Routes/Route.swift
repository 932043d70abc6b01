import CorralCore
import CorralSecurity
import Hummingbird

/// One route of the HTTP API, declared once: its method and path, who may call it, what the
/// audit log calls it, which request limit it counts toward, its OpenAPI operation and its
/// handler. The router registration (with the checks its access and limit call for), the audit
/// line, the 405 `Allow` header and the OpenAPI document's `paths` (with every status the route
/// may answer) are all read from here, so adding a route is adding one of these to `Routes`.
struct Route: Sendable {
    typealias Context = CorralRequestContext
    typealias Handler = @Sendable (Request, Context) async throws -> Response

    let method: HTTPRequest.Method
    /// From the root, parameters in braces as OpenAPI writes them: `/api/sessions/{id}`.
    let path: String
    let access: Access
    /// The action the audit log records, whatever the answer (refusals, the role's included, summed up).
    let audit: String?
    let limit: RequestLimit
    let operation: OpenAPIOperation
    /// Picks the handler from the parts `buildRouter` made.
    let handler: @Sendable (RouteHandlers) -> Handler

    init(
        _ method: HTTPRequest.Method,
        _ path: String,
        access: Access,
        audit: String? = nil,
        limit: RequestLimit,
        operation: OpenAPIOperation,
        handler: @escaping @Sendable (RouteHandlers) -> Handler
    ) {
        self.method = method
        self.path = path
        self.access = access
        self.audit = audit
        self.limit = limit
        self.operation = operation
        self.handler = handler
    }

    /// The role a caller needs; nil for routes open to anyone (or to LiveKit's signature).
    var role: Role? {
        if case .caller(let role) = access { return role }
        return nil
    }

    /// The path as Hummingbird's router writes it: `/api/sessions/:id`.
    var routerPath: String {
        "/" + segments.map { $0.hasPrefix("{") ? ":" + $0.dropFirst().dropLast() : $0 }.joined(separator: "/")
    }

    /// The path's segments, parameters still in braces.
    var segments: [Substring] { path.split(separator: "/") }

    /// The names of the path's parameters, in order.
    var pathParameters: [String] {
        segments.filter { $0.hasPrefix("{") }.map { String($0.dropFirst().dropLast()) }
    }

    /// Whether a request path (no query) falls on this route's path, whatever its method.
    func matches(path requested: String) -> Bool {
        let given = requested.split(separator: "/")
        let pattern = segments
        guard given.count == pattern.count else { return false }
        return zip(pattern, given).allSatisfy { expected, segment in expected.hasPrefix("{") || expected == segment }
    }
}

extension Route {
    /// Who may call a route, and so what is checked before its handler runs.
    enum Access: Sendable, Equatable {
        /// Anyone, under any name: orchestrators and load balancers probe by address or by
        /// names of their own. Nothing is checked.
        case probe
        /// Anyone; without tokens only under corral's own names (`HostCheck`, 421). The pages
        /// carry no session data.
        case page
        /// LiveKit's servers, under whatever name they were given for corral: the handler checks
        /// the signature in the header (401) before it takes a request slot or reads the body.
        /// Same-origin requests only (403), with a body of one of the operation's media types
        /// (415).
        case livekitSignature
        /// A caller holding at least this role. With tokens: a bearer token (401 without a valid
        /// one) of that role or above (403). Without: everyone holds `Identity.unauthenticated`'s
        /// role, under corral's own names only (421). Same-origin requests only (403), with a
        /// body of one of the operation's media types (415).
        case caller(Role)
    }

    /// What a route's request counts toward while it is answered.
    enum RequestLimit: Sendable, Equatable {
        /// No request slot: the probes must answer while corral is busy; the pages cost little.
        case none
        /// A request slot (`max_concurrent_requests`; 503 past it) while the handler runs, taken
        /// once the caller is known: after the bearer token, or by the webhook's handler after
        /// the signature.
        case slot
        /// A slot while the handler runs, then, for as long as the response streams, one of the
        /// caller's `max_streams_per_token` (429 past it), taken by the handler: it alone knows
        /// whether the response will stream.
        case stream
    }
}
