import HummingbirdCore
import Logging

/// At most `max_connections` connections open at once, and a few more while room is made for
/// them. Without a cap, a client opening connections by the thousand, before any authentication,
/// ran corral out of file descriptors, and its accept loop then spun a core while no request was
/// answered. Past the cap, the connections idle longest (or never used, or sending a request's
/// head a byte at a time) are closed for room (`ConnectionRegistry`): a client holding
/// connections open without using them cannot keep everyone else out. Room is made for several
/// newcomers side by side (`headroom`), so that it is made as fast as a flood comes: one at a
/// time, a client opening 150 connections a second held corral's listen queue, and nobody else got
/// an answer. A connection acting on or answering a request is never closed: with only those open,
/// new ones wait in the kernel's listen queue, holding none of corral's descriptors, until one
/// closes.
struct ConnectionCap: AvailableConnectionsDelegate {
    let limit: Int
    /// How many may be accepted past `limit` while room is made for them.
    let headroom: Int
    let logger: Logger
    let registry: ConnectionRegistry
    private var open = 0
    /// Said once per time over the cap, not once per connection accepted there.
    private var reported = false

    init(limit: Int, registry: ConnectionRegistry, logger: Logger) {
        self.limit = limit
        self.headroom = max(1, limit / 16)
        self.registry = registry
        self.logger = logger
    }

    mutating func connectionOpened() {
        open += 1
        guard open > limit else { return }
        registry.overCap(by: open - limit)
        guard !reported else { return }
        reported = true
        logger.warning(
            "max_connections connections are open: those idle longest are closed for the new ones (none acting on a request is); meanwhile new ones wait in the listen queue",
            metadata: ["max_connections": "\(limit)"]
        )
    }

    mutating func connectionClosed() {
        open -= 1
        registry.overCap(by: max(0, open - limit))
        if open <= limit * 3 / 4 { reported = false }
    }

    func isAcceptingNewConnections() -> Bool { open < limit + headroom }
}
