import CorralCore
import CorralSecurity
import Hummingbird
import CorralConfiguration

/// What runs in front of a route's handler, as its declaration says, in this order: the Host
/// check (without tokens), the origin and content-type check, the cluster credential of a
/// request another node passed on (in a cluster), the bearer token (with tokens), a
/// request slot, the audit line, and the role. The slot comes after the token, so strangers
/// cannot hold slots; the audit line before the role, so that a refused start is counted too.
struct RouteGuards: Sendable {
    typealias Middleware = any MiddlewareProtocol<Request, Response, CorralRequestContext>

    /// Without any token: only corral's own names are answered.
    let hostCheck: HostCheck?
    /// With tokens.
    let authentication: AuthMiddleware?
    /// In a cluster: requests other nodes pass on, vouched for by the cluster secret.
    let forwarded: ForwardedCallerMiddleware?
    let slots: RequestSlots
    let audit: AuditLog
    /// `https` when corral serves TLS (the request head does not say).
    let scheme: String

    init(configuration: CorralConfiguration, audit: AuditLog, slots: RequestSlots, cluster: ClusterCredential?) {
        let tokens = configuration.requiresAuthentication
        hostCheck = tokens ? nil : HostCheck(configuration: configuration)
        authentication = tokens ? AuthMiddleware(configuration: configuration, audit: audit) : nil
        forwarded = cluster.map { ForwardedCallerMiddleware(credential: $0, audit: audit) }
        self.slots = slots
        self.audit = audit
        scheme = configuration.tlsCertificateFile == nil ? "http" : "https"
    }

    func middlewares(for route: Route) -> [Middleware] {
        var chain: [Middleware] = []
        if route.access.checksHost, let hostCheck { chain.append(hostCheck) }
        if route.access.checksOrigin {
            chain.append(CrossOriginGuard(scheme: scheme, contentTypes: route.operation.requestBody?.mediaTypes ?? ["application/json"]))
        }
        if case .caller = route.access, let forwarded { chain.append(forwarded) }
        if case .caller = route.access, let authentication { chain.append(authentication) }
        // The webhook's handler takes its slot itself, once the signature checks out.
        if route.limit != .none, route.access != .livekitSignature { chain.append(ConcurrencyLimitMiddleware(slots: slots)) }
        if let action = route.audit { chain.append(AuditMiddleware(audit: audit, action: action)) }
        if let role = route.role { chain.append(RoleCheck(role: role)) }
        return chain
    }
}
