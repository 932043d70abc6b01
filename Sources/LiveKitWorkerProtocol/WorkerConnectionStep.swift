/// The steps of a connection attempt before the worker is registered, in order. Each is bounded:
/// the whole attempt, from the TCP connect to the registration's answer, has
/// `WorkerConnectionConfiguration.registerTimeout`.
public enum WorkerConnectionStep: String, Sendable, Equatable, Comparable, CaseIterable {
    /// Resolving the host and connecting over TCP.
    case tcpConnect = "tcp_connect"
    /// The TLS handshake (`wss` only).
    case tlsHandshake = "tls_handshake"
    /// The HTTP request to upgrade to a WebSocket is sent; waiting for `101 Switching Protocols`.
    case upgrade
    /// The register message is sent; waiting for the server's answer.
    case registration

    public static func < (lhs: Self, rhs: Self) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }
}
