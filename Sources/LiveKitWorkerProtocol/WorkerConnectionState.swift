import Foundation

/// Where a worker connection stands, for operators (a status page, `corral doctor`, logs).
public struct WorkerConnectionState: Sendable, Equatable {
    public enum Phase: String, Sendable, Equatable {
        /// `run()` has not started.
        case idle
        /// Connecting, or connected and waiting for the server to accept the registration.
        case connecting
        /// Registered: the server may offer jobs.
        case registered
        /// The last attempt failed or the connection dropped; the next one is at `retryAt`.
        case waitingToRetry = "waiting_to_retry"
        /// `run()` has returned (cancelled or shut down).
        case stopped
    }

    public internal(set) var phase: Phase = .idle
    /// The id the server gave this worker, while it is registered.
    public internal(set) var workerID: String?
    /// When the current registration was accepted.
    public internal(set) var registeredAt: Date?
    /// Why the last connection failed or ended, if one did.
    public internal(set) var lastError: String?
    /// Connection attempts that failed (or ended) in a row since the last registration.
    public internal(set) var failures = 0
    /// Registrations accepted since `run()` started.
    public internal(set) var registrations = 0
    /// When the next attempt is made, while waiting to retry.
    public internal(set) var retryAt: Date?

    public var connected: Bool { phase == .registered }

    /// A connection that has not run yet.
    public init() {}
}
