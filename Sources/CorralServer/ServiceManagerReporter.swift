import CorralCore
import CorralPlatform
import Logging
import ServiceLifecycle
import Synchronization

/// Keeps the service manager that runs corral (systemd, `Type=notify`) informed: `READY=1` once
/// corral serves, which is after it has re-adopted the sessions of the corral before it;
/// `STATUS=` with the session count; `WATCHDOG=1` at half the watchdog interval, each one only
/// after the supervisor has answered, so a supervisor that hangs is restarted; `STOPPING=1` the
/// moment a stop begins.
///
/// Two services share it. `heartbeat` is stopped last, so that the watchdog is fed through a
/// drain that may take many minutes; `stopAnnouncement` is stopped first, which is when the stop
/// begins.
public final class ServiceManagerReporter: Sendable {
    let manager: ServiceManager
    let supervisor: Supervisor
    let host: String
    let logger: Logger
    private let stopping = Mutex(false)
    private let failing = Mutex(false)
    /// `READY=1` is said with every message until one reaches the manager: its queue may be full
    /// when corral first says it (Linux keeps ten datagrams; a slow start under a short watchdog
    /// sends more beats than that first), and systemd ends a `Type=notify` service it never hears
    /// it from.
    private let readyUntold = Mutex(false)
    /// Where the API listens, once it does (`listen` may ask for any free port).
    private let address = Mutex("")

    /// How often the status is refreshed when no watchdog asks for more.
    static let statusPeriod = Duration.seconds(10)

    public init(manager: ServiceManager, supervisor: Supervisor, host: String, logger: Logger) {
        self.manager = manager
        self.supervisor = supervisor
        self.host = host
        self.logger = logger
    }

    public var heartbeat: some Service { Heartbeat(reporter: self) }
    public var stopAnnouncement: some Service { StopAnnouncement(reporter: self) }

    /// corral serves: its API listens and every session it found is adopted or ended.
    public func serving(port: Int?) async {
        address.withLock { $0 = port.map { "\(host):\($0)" } ?? host }
        readyUntold.withLock { $0 = true }
        send([await status()])
    }

    func beat() async {
        var fields = [await status()]
        if manager.watchdogInterval != nil { fields.append("WATCHDOG=1") }
        send(fields)
    }

    func stop() async {
        stopping.withLock { $0 = true }
        send(["STOPPING=1", await status()])
    }

    private func status() async -> String {
        let count = await supervisor.sessionCount
        let sessions = count == 1 ? "1 session" : "\(count) sessions"
        if stopping.withLock({ $0 }) { return "STATUS=stopping, \(sessions) left" }
        let address = address.withLock { $0 }
        return address.isEmpty ? "STATUS=starting, \(sessions) adopted so far" : "STATUS=serving \(sessions) on \(address)"
    }

    private func send(_ fields: [String]) {
        let ready = readyUntold.withLock { $0 } && !stopping.withLock { $0 }
        let error = manager.notify((ready ? ["READY=1"] : []) + fields)
        if ready, error == nil { readyUntold.withLock { $0 = false } }
        // Said once when it starts failing and once when it works again, not every beat.
        let changed = failing.withLock { failing in
            defer { failing = error != nil }
            return failing != (error != nil)
        }
        guard changed else { return }
        if let error {
            logger.warning("cannot notify the service manager; retried at every status", metadata: ["error": "\(error)"])
        } else {
            logger.info("notifying the service manager again")
        }
    }
}

private struct Heartbeat: Service {
    let reporter: ServiceManagerReporter

    func run() async throws {
        let period = reporter.manager.watchdogInterval.map { min($0, ServiceManagerReporter.statusPeriod) } ?? ServiceManagerReporter.statusPeriod
        try? await cancelWhenGracefulShutdown {
            while true {
                try await Task.sleep(for: period)
                await reporter.beat()
            }
        }
    }
}

private struct StopAnnouncement: Service {
    let reporter: ServiceManagerReporter

    func run() async throws {
        try? await gracefulShutdown()
        await reporter.stop()
    }
}
