import HummingbirdCore
import Logging

/// At most `max_connections` connections open at once. At the cap corral stops accepting: new
/// connections wait in the kernel's listen queue, holding none of corral's descriptors, until one
/// closes. Without it, a client opening connections by the thousand, before any authentication,
/// ran corral out of file descriptors, and its accept loop then spun a core while no request was
/// answered. Reaching the cap, corral closes the connection that has been idle longest (or whose
/// request has been arriving longest), so that a client holding connections open without using
/// them cannot keep everyone else waiting; connections acting on or answering a request are
/// never closed for room.
struct ConnectionCap: AvailableConnectionsDelegate {
    let limit: Int
    let logger: Logger
    let registry: ConnectionRegistry
    private var open = 0
    /// Said once per time at the cap, not once per connection accepted there.
    private var reported = false

    init(limit: Int, registry: ConnectionRegistry, logger: Logger) {
        self.limit = limit
        self.registry = registry
        self.logger = logger
    }

    mutating func connectionOpened() {
        open += 1
        guard open >= limit else { return }
        registry.atCap(true)
        guard !reported else { return }
        reported = true
        logger.warning(
            "max_connections connections are open: the one idle longest is closed for each new one (none answering a request is); meanwhile new ones wait in the listen queue",
            metadata: ["max_connections": "\(limit)"]
        )
    }

    mutating func connectionClosed() {
        open -= 1
        if open == limit - 1 { registry.atCap(false) }
        if open <= limit * 3 / 4 { reported = false }
    }

    func isAcceptingNewConnections() -> Bool { open < limit }
}
