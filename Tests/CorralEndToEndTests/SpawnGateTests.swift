@testable import CorralPlatform
import CorralTestSupport
import Foundation
import Synchronization
import Testing

@testable import CorralCore

#if canImport(Glibc)
import Glibc
#endif

/// `ProcessMonitor.withSpawnGate`: spawns pass it together, and the monitor's thread handles
/// nothing while one is inside. What blocks runs on threads of its own (`OwnThread`).
@Suite("The spawn gate")
struct SpawnGateTests {
    /// Two spawns are in the gate at once. The monitor's thread may want the gate between the
    /// first's entry and the second's (another test's child exits): preferred over new spawns, it
    /// then holds up the second until the first leaves. Such a round proves nothing either way and
    /// is tried again.
    @Test func twoSpawnsAreInTheGateAtOnce() async throws {
        let monitor = ProcessMonitor.shared
        try monitor.start()
        let rounds = await OwnThread.run { () -> [GateRound] in
            var rounds: [GateRound] = []
            repeat {
                rounds.append(Self.gateRound(monitor))
            } while rounds.count < 20 && rounds.last == .interrupted
            return rounds
        }
        #expect(rounds.last == .together, "the second spawn waited for the first to leave the gate: \(rounds)")
    }

    enum GateRound: Sendable {
        case together
        /// The second got in only once the first had left.
        case apart
        /// The monitor waited for the gate before the second got in.
        case interrupted
    }

    /// A thread enters the gate and stays until a second one is in too, the monitor waits for
    /// the gate, or 10 s have passed.
    static func gateRound(_ monitor: ProcessMonitor) -> GateRound {
        let firstInside = Atomic<Bool>(false)
        let firstLeft = Atomic<Bool>(false)
        let secondInside = Atomic<Bool>(false)
        let interrupted = Atomic<Bool>(false)
        Thread.detachNewThread {
            monitor.withSpawnGate {
                firstInside.store(true, ordering: .sequentiallyConsistent)
                _ = OwnThread.poll { secondInside.load(ordering: .sequentiallyConsistent) || monitor.isWaitingForSpawns }
                if !secondInside.load(ordering: .sequentiallyConsistent) { interrupted.store(monitor.isWaitingForSpawns, ordering: .sequentiallyConsistent) }
            }
            firstLeft.store(true, ordering: .sequentiallyConsistent)
        }
        _ = OwnThread.poll { firstInside.load(ordering: .sequentiallyConsistent) }
        let together = monitor.withSpawnGate { () -> Bool in
            secondInside.store(true, ordering: .sequentiallyConsistent)
            return !firstLeft.load(ordering: .sequentiallyConsistent)
        }
        _ = OwnThread.poll(timeout: .seconds(30)) { firstLeft.load(ordering: .sequentiallyConsistent) }
        if together { return .together }
        return interrupted.load(ordering: .sequentiallyConsistent) ? .interrupted : .apart
    }

    /// Whatever a new agent sends reaches the supervisor after its pid does: the readable
    /// handlers (the notify socket's) wait while a spawn is in the gate, where the pid is told.
    @Test func noReadableHandlerRunsWhileASpawnIsInTheGate() async throws {
        let monitor = ProcessMonitor.shared
        try monitor.start()
        let fd = try Syscall.eventFD()
        defer { close(fd) }
        let inGate = Atomic<Bool>(false)
        // For each call of the handler: whether it came while the test was in the gate.
        let calls = Mutex<[Bool]>([])
        let token = try monitor.watchReadable(fd) {
            Syscall.drainEventFD(fd)
            let during = inGate.load(ordering: .sequentiallyConsistent)
            calls.withLock { $0.append(during) }
        }
        defer { monitor.unwatch(token) }

        let heldBack = await OwnThread.run {
            monitor.withSpawnGate { () -> Bool in
                inGate.store(true, ordering: .sequentiallyConsistent)
                Syscall.signalEventFD(fd)
                // The monitor sees the descriptor readable and waits for the gate; without the
                // gate, it runs the handler now.
                let settled = OwnThread.poll { monitor.isWaitingForSpawns || !calls.withLock(\.isEmpty) }
                inGate.store(false, ordering: .sequentiallyConsistent)
                return settled && calls.withLock(\.isEmpty)
            }
        }
        #expect(heldBack, "the handler ran while a spawn was in the gate")
        #expect(await ProcessProbe.waitUntil(every: .milliseconds(5)) { !calls.withLock(\.isEmpty) }, "the handler never ran")
        #expect(!calls.withLock { $0.contains(true) })
    }

}
