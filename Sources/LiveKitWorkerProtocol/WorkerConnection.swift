import Foundation
import Logging
import ServiceLifecycle

/// One LiveKit agent worker: a WebSocket to `<url>/agent`, registered under an agent name, kept
/// up for as long as `run()` runs. It reconnects with backoff on any failure (a refused token, a
/// server that went away, an attempt not registered within `registerTimeout` of its TCP connect)
/// and registers again; the jobs the delegate runs are not touched meanwhile, and after every
/// registration the delegate's running jobs are reported in `migrate_job`, as LiveKit's own
/// worker does. Its phases are `WorkerConnectionLifecycle`'s; this actor carries out its actions.
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
    /// The phases, carried out by `handle(_:)`.
    var lifecycle: WorkerConnectionLifecycle
    /// The socket of each attempt whose socket is open.
    var sockets: [Int: WorkerSocket] = [:]
    /// The registration answer of the attempt being registered, for `announceRegistration`.
    var registration: (attempt: Int, response: Livekit_RegisterWorkerResponse)?
    /// The one timer (an attempt's deadline, the backoff, a stop's deadline).
    var timer: Task<Void, Never>?
    /// `run()`, waiting for the connection to stop.
    var finished: CheckedContinuation<Void, Never>?
    private var running = false

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
        lifecycle = WorkerConnectionLifecycle(
            secure: configuration.endpoint.secure,
            connectTimeout: configuration.registerTimeout,
            closeTimeout: Self.closeTimeout + .seconds(1),
            backoff: configuration.backoff
        )
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
    /// shutdown; then closes the socket and returns. A stop while the connection is still being
    /// made cuts it at once; a registered connection is closed with a close handshake, for at
    /// most a few seconds.
    public func run() async {
        guard !running else {
            logger.error("WorkerConnection.run() called while it already runs; the second call returns at once")
            return
        }
        running = true
        await cancelWhenGracefulShutdown {
            await withTaskCancellationHandler {
                await self.runUntilStopped()
            } onCancel: {
                Task { await self.handle(.stop) }
            }
        }
        running = false
    }

    private func runUntilStopped() async {
        await handle(.start)
        await withCheckedContinuation { continuation in
            if case .stopped = lifecycle.state {
                continuation.resume()
            } else {
                finished = continuation
            }
        }
    }

    /// A new link for attempt `id`'s connection; it replaces any earlier one.
    func openLink(_ id: Int) -> AsyncStream<Livekit_WorkerMessage> {
        link?.continuation.finish()
        outbox.connectionLost()
        let (messages, continuation) = AsyncStream.makeStream(of: Livekit_WorkerMessage.self)
        link = Link(id: id, continuation: continuation)
        return messages
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
