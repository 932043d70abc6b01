import HummingbirdCore
import Logging

/// At most `max_connections` connections open at once. At the cap corral stops accepting: new
/// connections wait in the kernel's listen queue, holding none of corral's descriptors, until one
/// closes (idle ones close after `idle_timeout_seconds`). Without it, a client opening
/// connections by the thousand, before any authentication, ran corral out of file descriptors,
/// and its accept loop then spun a core while no request was answered.
struct ConnectionCap: AvailableConnectionsDelegate {
    let limit: Int
    let logger: Logger
    private var open = 0
    /// Said once per time at the cap, not once per connection accepted there.
    private var reported = false

    init(limit: Int, logger: Logger) {
        self.limit = limit
        self.logger = logger
    }

    mutating func connectionOpened() {
        open += 1
        guard open >= limit, !reported else { return }
        reported = true
        logger.warning(
            "max_connections connections are open: new ones wait in the listen queue until one closes",
            metadata: ["max_connections": "\(limit)"]
        )
    }

    mutating func connectionClosed() {
        open -= 1
        if open <= limit * 3 / 4 { reported = false }
    }

    func isAcceptingNewConnections() -> Bool { open < limit }
}
