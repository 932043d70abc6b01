import CorralPlatform
import CorralConfiguration
/// How this host lets corral make a pid namespace per session, found by making one: alone where
/// corral has CAP_SYS_ADMIN, else inside a user namespace (an unprivileged container: no
/// CAP_SYS_ADMIN, but user namespaces allowed), as `user_namespace` asks.
public struct PidNamespaceSupport: Sendable, Equatable {
    /// The user namespace each session's pid namespace gets, with its maps; nil for none.
    public let userNamespace: UserNamespaceMap?

    public init(userNamespace: UserNamespaceMap?) {
        self.userNamespace = userNamespace
    }

    /// Tries each way `mode` allows, a pid namespace alone first; throws with every reason if
    /// none works.
    public static func probe(_ mode: UserNamespaceMode, map: UserNamespaceMap = .forCorral()) throws(CorralError) -> PidNamespaceSupport {
        var reasons: [String] = []
        if mode != .always {
            guard let error = AgentSpawner.probePidNamespace(userNamespace: nil) else { return PidNamespaceSupport(userNamespace: nil) }
            reasons.append("a pid namespace alone: \(error)")
        }
        if mode != .never {
            guard let error = AgentSpawner.probePidNamespace(userNamespace: map) else { return PidNamespaceSupport(userNamespace: map) }
            reasons.append("a pid namespace in a user namespace: \(error)")
        }
        throw CorralError(.configuration, "no pid namespace can be made here (\(reasons.joined(separator: "; ")))")
    }

    /// What a session gets, in a sentence.
    public var summary: String {
        guard let map = userNamespace else { return "a pid namespace per session, no user namespace (corral has CAP_SYS_ADMIN)" }
        return "a pid namespace per session inside a user namespace (\(map.summary))"
    }

    /// What this mode does not give, for `corral doctor` and `corral check`.
    public static let notGiven =
        "no limit is enforced without a cgroup: memory_limit_mb and pids_limit are watched every watch_interval_seconds "
        + "(the session is ended once over), cpu_limit is not applied at all"

    /// Why an agent cannot run as `user` in such a session, or nil.
    public func problem(running user: AgentUser) -> String? {
        userNamespace?.problem(running: user)
    }
}
