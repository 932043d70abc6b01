import Logging
import ServiceLifecycle
import Synchronization

/// Runs a service in a group of its own whose graceful shutdown may take at most `limit`; then it
/// is cancelled. For the HTTP server, which waits for every response to end: a followed log or
/// an event stream whose client stopped reading cannot be written to its end, and must not keep
/// corral from exiting. By the time the server stops, the supervisor has (the streams have
/// ended for every client that still reads).
///
/// Should the cancelled service still not return (a CI run once saw corral alive 20 s after
/// its sessions had ended, a follower not reading), it is left behind `backstop` later: what
/// comes after it in the stop (the webhook's last events, the service manager's last word)
/// still happens, and corral exits.
struct BoundedShutdown: Service {
    let service: any Service
    let limit: Duration
    var backstop: Duration = .seconds(5)
    let logger: Logger

    func run() async throws {
        var configuration = ServiceGroupConfiguration(services: [.init(service: service)], logger: logger)
        configuration.maximumGracefulShutdownDuration = limit
        let group = ServiceGroup(configuration: configuration)
        let outcome = Outcome()
        // Unstructured, so that waiting for it can stop; it inherits the task-local that carries
        // the graceful shutdown to the group.
        let inner = Task {
            do {
                try await group.run()
                outcome.settle(nil)
            } catch {
                outcome.settle(error)
            }
        }
        let (limit, backstop, logger) = (limit, backstop, logger)
        try await withTaskCancellationHandler {
            try await withGracefulShutdownHandler {
                try await outcome.wait()
            } onGracefulShutdown: {
                Task {
                    try await Task.sleep(for: limit + backstop)
                    guard outcome.giveUp() else { return }
                    logger.error(
                        "the HTTP server had not stopped \(limit + backstop) after it was asked to (its sessions are ended); corral goes on stopping without it"
                    )
                }
            }
        } onCancel: {
            inner.cancel()
        }
    }

    /// How the inner group ended, told once: its own end, or the backstop giving up on it. `run`
    /// alone waits for it, once.
    private final class Outcome: Sendable {
        private enum State {
            case running(waiter: CheckedContinuation<Void, any Error>?)
            case settled((any Error)?)
        }
        private let state = Mutex(State.running(waiter: nil))

        /// False if it had been told already (the group ended as the backstop gave up on it).
        @discardableResult
        func settle(_ error: (any Error)?) -> Bool {
            let told = state.withLock { state -> CheckedContinuation<Void, any Error>?? in
                guard case .running(let waiter) = state else { return nil }
                state = .settled(error)
                return .some(waiter)
            }
            guard let told else { return false }
            told.map { Self.resume($0, error) }
            return true
        }

        /// True if the group had not ended: it is given up on.
        func giveUp() -> Bool { settle(nil) }

        func wait() async throws {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let settled = state.withLock { state -> ((any Error)?)? in
                    guard case .settled(let error) = state else {
                        state = .running(waiter: continuation)
                        return nil
                    }
                    return .some(error)
                }
                if let settled { Self.resume(continuation, settled) }
            }
        }

        private static func resume(_ continuation: CheckedContinuation<Void, any Error>, _ error: (any Error)?) {
            if let error { continuation.resume(throwing: error) } else { continuation.resume() }
        }
    }
}
