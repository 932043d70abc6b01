import CorralCore
import CorralSecurity
import Hummingbird
import NIOCore

/// The request context of corral's routes: who is calling (set by `AuthMiddleware`) and from
/// where (for the audit log).
public struct CorralRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public var identity: Identity?
    /// The node that passed this request on, its `ClusterCredential` verified; nil for a request
    /// a caller sent here.
    public var forwardedBy: String?
    public let remoteAddress: String?
    /// The address without its port: what refusals are counted by.
    public let remoteHost: String?
    /// The connection, for what a long response watches on it (`ClientHangUp`).
    let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
        let address = source.channel.remoteAddress
        remoteHost = address.map { $0.ipAddress ?? "\($0)" }
        remoteAddress = address.map { address in
            address.ipAddress.map { "\($0):\(address.port ?? 0)" } ?? "\(address)"
        }
    }

    /// The caller, who must hold at least `role` (403 otherwise).
    @discardableResult
    func require(_ role: Role) throws(APIError) -> Identity {
        let caller = identity ?? .unauthenticated
        guard caller.role >= role else {
            throw APIError(.forbidden, "the token '\(caller.name)' has role \(caller.role.rawValue); this needs \(role.rawValue)")
        }
        return caller
    }

    var caller: Identity { identity ?? .unauthenticated }
}
