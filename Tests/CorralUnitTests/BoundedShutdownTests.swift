import CorralTestSupport
import Logging
import ServiceLifecycle
import Synchronization
import Testing

@testable import CorralServer

/// The HTTP server's stop is bounded: cancelled past its limit, and left behind past the backstop
/// if it does not return even then.
@Suite("Bounded shutdown")
struct BoundedShutdownTests {
    /// Runs until released, whatever happens: neither graceful shutdown nor cancellation ends it.
    private final class StuckService: Service {
        private let state = Mutex<(started: Bool, release: CheckedContinuation<Void, Never>?, released: Bool)>((false, nil, false))

        var started: Bool { state.withLock(\.started) }

        func run() async throws {
            await withCheckedContinuation { continuation in
                let released = state.withLock { state in
                    state.started = true
                    state.release = continuation
                    return state.released
                }
                if released { continuation.resume() }
            }
        }

        func release() {
            let continuation = state.withLock { state in
                defer { state.release = nil }
                state.released = true
                return state.release
            }
            continuation?.resume()
        }
    }

    @Test func aServiceThatIgnoresCancellationIsLeftBehindAtTheBackstop() async throws {
        let stuck = StuckService()
        defer { stuck.release() }
        let logger = Logger(label: "bounded-shutdown-test")
        let bounded = BoundedShutdown(service: stuck, limit: .milliseconds(200), backstop: .milliseconds(300), logger: logger)
        let group = ServiceGroup(configuration: .init(services: [.init(service: bounded)], logger: logger))
        let finished = Mutex(false)
        let running = Task {
            try? await group.run()
            finished.withLock { $0 = true }
        }
        defer { running.cancel() }
        #expect(await ProcessProbe.waitUntil(timeout: .seconds(30)) { stuck.started })
        await group.triggerGracefulShutdown()
        // Without the backstop the group waits for the service for ever.
        #expect(await ProcessProbe.waitUntil(timeout: .seconds(30)) { finished.withLock { $0 } })
    }
}
