/// Whether sessions in pid namespaces also get a user namespace (`user_namespace`).
public enum UserNamespaceMode: String, Sendable, Equatable, CaseIterable {
    /// Only where corral cannot make a pid namespace without one (no CAP_SYS_ADMIN: an
    /// unprivileged container, a corral that is not root).
    case auto
    /// Always: an agent running as root then has capabilities in its own namespaces only.
    case always
    /// Never: a pid namespace alone, which needs CAP_SYS_ADMIN.
    case never
}
