import Dispatch

/// Runs work that blocks (reading all of /proc, many files) on a dispatch queue instead of the
/// Swift concurrency pool, whose few threads must stay free for timers, the actor and HTTP.
///
/// Two lanes, each with its own threads (dispatch keeps a thread pool per quality of service):
/// periodic scans (limit watch, inspection) go on the utility lane; the steps of ending a session
/// go on the urgent lane, so that however much scanning queues up, an end is never stuck behind it.
package enum Blocking {
    package enum Lane {
        case background
        case urgent
    }

    private static let background = DispatchQueue(label: "corral.blocking", qos: .utility, attributes: .concurrent)
    private static let urgent = DispatchQueue(label: "corral.blocking.urgent", qos: .userInitiated, attributes: .concurrent)

    package static func run<T: Sendable>(_ lane: Lane = .background, _ work: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            (lane == .urgent ? urgent : background).async { continuation.resume(returning: work()) }
        }
    }
}
