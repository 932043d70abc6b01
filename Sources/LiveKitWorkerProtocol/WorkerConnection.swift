import Foundation
import Logging
import ServiceLifecycle

/// One LiveKit agent worker: a WebSocket to `<url>/agent`, registered under an agent name, kept
/// up for as long as `run()` runs. It reconnects with backoff on any failure (a refused token, a
/// server that went away, no registration answer in time) and registers again; the jobs the
/// delegate runs are not touched meanwhile, and after every registration the delegate's running
/// jobs are reported in `migrate_job`, as LiveKit's own worker does.
///
/// What the server sends goes to the `delegate`; what the worker reports goes through `send`.
/// Job statuses sent while there is no registered connection are held (the latest per job) and
/// sent after the next registration; the latest worker status is sent after every registration.
/// A job status written to a connection that then drops is sent again unless the server's pong to
/// a ping written after it proved it read (`Outbox`).
public actor WorkerConnection: Service {
    public nonisolated let configuration: WorkerConnectionConfiguration
    let delegate: any WorkerConnectionDelegate
    let logger: Logger
    var status = WorkerConnectionState()
    var outbox = Outbox()
    /// The current connection's way out, while there is one.
    var link: Link?
    private var running = false
    private var nextLinkID = 0

    /// A connection's queue of messages to the server, written in order by its writer.
    struct Link {
        let id: Int
        let continuation: AsyncStream<Livekit_WorkerMessage>.Continuation
        /// Registered, and what was held for the server has been sent: `send` goes straight out.
        var open = false
    }

    public init(configuration: WorkerConnectionConfiguration, delegate: any WorkerConnectionDelegate, logger: Logger) {
        self.configuration = configuration
        self.delegate = delegate
        var logger = logger
        logger[metadataKey: "livekit_agent"] = "\(configuration.registration.agentName)"
        self.logger = logger
    }

    /// Where the connection stands.
    public var state: WorkerConnectionState { status }

    /// Reports the worker's status (load, job count, `WS_FULL`). Sent now when registered; the
    /// latest is sent again after every registration.
    public func send(_ update: Livekit_UpdateWorkerStatus) {
        outbox.workerStatus = update
        if let link, link.open { link.continuation.yield(.with { $0.updateWorker = update }) }
    }

    /// Reports a job's status. Sent now when registered, else held (the latest per job) until the
    /// next registration.
    public func send(_ update: Livekit_UpdateJobStatus) {
        if let link, link.open {
            write(update, to: link)
        } else {
            outbox.hold(update)
        }
    }

    /// Connects, registers and serves until cancelled or, in a service group, until graceful
    /// shutdown; then closes the socket and returns.
    public func run() async {
        guard !running else {
            logger.error("WorkerConnection.run() called while it already runs; the second call returns at once")
            return
        }
        running = true
        await cancelWhenGracefulShutdown { await self.connectLoop() }
        running = false
    }

    private func connectLoop() async {
        while !Task.isCancelled {
            status.phase = .connecting
            status.retryAt = nil
            logger.info("connecting to LiveKit at \(configuration.endpoint.url)")
            let reason: String
            do {
                reason = try await connectOnce().description
            } catch {
                reason = WorkerConnectionError.describe(error, url: configuration.endpoint.url)
            }
            if Task.isCancelled { break }
            let wasRegistered = status.phase == .registered
            status.failures += 1
            let delay = configuration.backoff.delay(afterFailures: status.failures)
            status.phase = .waitingToRetry
            status.workerID = nil
            status.registeredAt = nil
            status.lastError = reason
            status.retryAt = Date() + delay.seconds
            if wasRegistered {
                logger.warning("connection to LiveKit dropped: \(reason); reconnecting in \(delay.seconds.rounded(to: 2)) s")
            } else {
                logger.warning("connecting to LiveKit failed (\(status.failures) in a row): \(reason); retrying in \(delay.seconds.rounded(to: 2)) s")
            }
            await delegate.disconnected(reason: reason)
            try? await Task.sleep(for: delay)
        }
        status.phase = .stopped
        status.workerID = nil
        status.registeredAt = nil
        status.retryAt = nil
        logger.info("stopped the LiveKit worker connection")
    }

    /// A new link for a connection about to be made; it replaces any earlier one.
    func openLink() -> (id: Int, messages: AsyncStream<Livekit_WorkerMessage>, end: AsyncStream<Livekit_WorkerMessage>.Continuation) {
        link?.continuation.finish()
        outbox.connectionLost()
        nextLinkID += 1
        let (messages, continuation) = AsyncStream.makeStream(of: Livekit_WorkerMessage.self)
        link = Link(id: nextLinkID, continuation: continuation)
        return (nextLinkID, messages, continuation)
    }

    func closeLink(_ id: Int) {
        guard let link, link.id == id else { return }
        link.continuation.finish()
        self.link = nil
        outbox.connectionLost()
    }

    /// Writes a job status, and a ping whose pong will prove the server read it.
    func write(_ update: Livekit_UpdateJobStatus, to link: Link) {
        let stamp = outbox.written(update)
        link.continuation.yield(.with { $0.updateJob = update })
        link.continuation.yield(.with { $0.ping = .with { $0.timestamp = stamp } })
    }

    /// Queues a message on link `id`, if that connection is still the current one.
    func enqueue(_ message: Livekit_WorkerMessage, on id: Int) {
        guard let link, link.id == id else { return }
        link.continuation.yield(message)
    }

    func isRegistered(_ id: Int) -> Bool {
        link?.id == id && status.phase == .registered
    }
}

extension Duration {
    var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}

extension Double {
    func rounded(to places: Int) -> Double {
        let scale = pow(10, Double(places))
        return (self * scale).rounded() / scale
    }
}
