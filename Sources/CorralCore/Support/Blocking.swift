import Dispatch

/// Runs work that blocks (reading all of /proc, many files) on a dispatch queue instead of the
/// Swift concurrency pool, whose few threads must stay free for timers, the actor and HTTP.
enum Blocking {
    private static let queue = DispatchQueue(label: "corral.blocking", qos: .utility, attributes: .concurrent)

    static func run<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            queue.async { continuation.resume(returning: work()) }
        }
    }
}
