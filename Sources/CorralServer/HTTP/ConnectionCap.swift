import HummingbirdCore
import Logging

/// At most `max_connections` connections open at once, and one more while room is made for it.
/// Without a cap, a client opening connections by the thousand, before any authentication, ran
/// corral out of file descriptors, and its accept loop then spun a core while no request was
/// answered. Past the cap, the connection idle longest (or never used, or sending a request's head
/// a byte at a time) is closed for room (`ConnectionRegistry`): a client holding connections open
/// without using them cannot keep everyone else out. A connection acting on or answering a request
/// is never closed: with only those open, new ones wait in the kernel's listen queue, holding none
/// of corral's descriptors, until one closes.
struct ConnectionCap: AvailableConnectionsDelegate {
    let limit: Int
    let logger: Logger
    let registry: ConnectionRegistry
    private var open = 0
    /// Said once per time over the cap, not once per connection accepted there.
    private var reported = false

    init(limit: Int, registry: ConnectionRegistry, logger: Logger) {
        self.limit = limit
        self.registry = registry
        self.logger = logger
    }

    mutating func connectionOpened() {
        open += 1
        guard open > limit else { return }
        registry.overCap(true)
        guard !reported else { return }
        reported = true
        logger.warning(
            "max_connections connections are open: the one idle longest is closed for each new one (none acting on a request is); meanwhile new ones wait in the listen queue",
            metadata: ["max_connections": "\(limit)"]
        )
    }

    mutating func connectionClosed() {
        open -= 1
        registry.closeCounted()
        if open == limit { registry.overCap(false) }
        if open <= limit * 3 / 4 { reported = false }
    }

    func isAcceptingNewConnections() -> Bool { open <= limit }
}
