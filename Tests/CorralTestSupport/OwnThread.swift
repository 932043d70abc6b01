import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Blocking work in tests, on threads of their own: never on the Swift concurrency pool (two
/// threads on this machine), which every other test running beside it needs for its timers.
public enum OwnThread {
    /// Runs `body` on a new thread and returns what it returns.
    public static func run<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            Thread.detachNewThread { continuation.resume(returning: body()) }
        }
    }

    public static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread { continuation.resume(with: Result { try body() }) }
        }
    }

    /// Polls `condition` on the calling thread until it holds or `timeout` passes; returns
    /// whether it held.
    public static func poll(timeout: Duration = .seconds(10), _ condition: () -> Bool) -> Bool {
        let deadline = ContinuousClock.now + timeout
        while !condition() {
            if ContinuousClock.now >= deadline { return false }
            usleep(1000)
        }
        return true
    }
}
