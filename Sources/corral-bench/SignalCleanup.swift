import Dispatch
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// What a scenario has running that would outlive corral-bench stopped by SIGINT or SIGTERM
/// (errors are handled where they are thrown): the corral and test-server children (SIGTERM,
/// which ends corral's sessions, then SIGKILL), LiveKit's worker with its tree, and the density
/// jobs' `setsid` helpers, which hang below nothing the benchmark started.
final class SignalCleanup: Sendable {
    static let shared = SignalCleanup()

    private struct Running {
        var children: Set<Int32> = []
        var workers: Set<Int32> = []
        var helpers: Set<String> = []
    }

    private let running = Mutex(Running())
    private let installed = Mutex(false)

    /// From now on, SIGINT and SIGTERM end what is registered, then corral-bench (exit 128 + signal).
    func install() {
        guard installed.withLock({ done in defer { done = true }; return !done }) else { return }
        for number in [SIGINT, SIGTERM] {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { [self] in
                print("corral-bench: signal \(number), ending what the benchmark started")
                endAll()
                exit(128 + number)
            }
            source.resume()
            Self.sources.append(source)
        }
    }

    /// Kept for the life of the process; written only by `install`, once.
    nonisolated(unsafe) private static var sources: [any DispatchSourceSignal] = []

    func child(_ pid: Int32) { running.withLock { _ = $0.children.insert(pid) } }
    func childEnded(_ pid: Int32) { running.withLock { _ = $0.children.remove(pid) } }
    func worker(_ pid: Int32) { running.withLock { _ = $0.workers.insert(pid) } }
    func workerEnded(_ pid: Int32) { running.withLock { _ = $0.workers.remove(pid) } }
    func helpers(_ argument: String) { running.withLock { _ = $0.helpers.insert(argument) } }

    private func endAll() {
        let now = running.withLock { $0 }
        for worker in now.workers { Scenarios.endTree(worker) }
        for pid in now.children { kill(pid, SIGTERM) }
        let deadline = ContinuousClock.now + .seconds(30)
        var status: Int32 = 0
        var waiting = now.children
        while !waiting.isEmpty, ContinuousClock.now < deadline {
            waiting = waiting.filter { waitpid($0, &status, WNOHANG) == 0 }
            usleep(20_000)
        }
        for pid in waiting { kill(pid, SIGKILL) }
        for argument in now.helpers {
            for pid in Scenarios.densityHelpers(argument) { kill(pid, SIGKILL) }
        }
    }
}
