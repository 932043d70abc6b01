import CCorralShims
@testable import CorralPlatform
import CorralTestSupport
import Foundation
import Synchronization
import Testing

@testable import CorralCore

#if canImport(Glibc)
import Glibc
#endif

/// Spawns on different threads run side by side: nothing in the spawn is shared between them
/// but the descriptor slots, of which there are several sets. What blocks runs on threads of its
/// own (`OwnThread`).
@Suite("Spawning side by side")
struct ParallelSpawnTests {
    /// The end of one spawn, made on a thread of its own.
    final class Outcome: @unchecked Sendable {
        private let state = Mutex<Result<SpawnedProcess, AgentSpawner.Failure>?>(nil)

        func finish(_ result: Result<SpawnedProcess, AgentSpawner.Failure>) { state.withLock { $0 = result } }
        var isDone: Bool { state.withLock { $0 != nil } }
        var spawned: SpawnedProcess? { state.withLock { try? $0?.get() } }

        static func start(_ request: SpawnRequest) -> Outcome {
            let outcome = Outcome()
            // Handed to the one thread that uses it.
            nonisolated(unsafe) let request = request
            Thread.detachNewThread {
                outcome.finish(Result { () throws(AgentSpawner.Failure) in try AgentSpawner.spawn(request) })
            }
            return outcome
        }

        /// Waits for the spawn to return and kills what it started; false if it failed.
        func end() -> Bool {
            _ = OwnThread.poll(timeout: .seconds(30)) { isDone }
            spawned?.pidFD.killAndReap()
            spawned?.pidFD.close()
            return spawned != nil
        }
    }

    static func sleeper(_ output: AgentSpawnerTests.Output) -> SpawnRequest {
        SpawnRequest(executable: "/bin/sleep", arguments: ["sleep", "30"], environment: [], outputFD: output.fd)
    }

    /// A cgroup of the test's own, frozen: a child started in it stops before it runs anything.
    static func frozenCgroup() throws -> SpawnStrategyTests.TestCgroup {
        let cgroup = try SpawnStrategyTests.TestCgroup()
        try "1".write(toFile: cgroup.path + "/cgroup.freeze", atomically: false, encoding: .utf8)
        return cgroup
    }

    static func thaw(_ cgroup: SpawnStrategyTests.TestCgroup) {
        try? "0".write(toFile: cgroup.path + "/cgroup.freeze", atomically: false, encoding: .utf8)
    }

    static func hasMembers(_ cgroup: SpawnStrategyTests.TestCgroup) -> Bool {
        !CgroupFS.pids(cgroup.path + "/cgroup.procs").isEmpty
    }

    struct Race: Sendable {
        var firstReachedItsCgroup = false
        /// The second spawn returned while the first still waited.
        var overtaken = false
        var bothSpawned = false
    }

    /// A vfork-style spawn whose child is frozen in its cgroup waits in the clone (its parent is
    /// suspended until execve) for as long as the cgroup stays frozen. A spawn on another thread
    /// must get through meanwhile. With one set of descriptor slots for all spawns, held from
    /// the clone to execve, it waits until the thaw.
    ///
    /// Only strategies whose child shares the descriptor table until it runs: a child that
    /// copies it at the clone (fork-style, or with the whole table) would keep the report pipes
    /// of every other spawn under way in this process open while frozen, and those spawns (other
    /// tests') would wait for the thaw.
    @Test(
        .enabled(if: CgroupSupport.available, "\(CgroupSupport.unavailableReason)"),
        arguments: [SpawnStrategy.automatic, .vforkClone]
    )
    func aSpawnWaitingBeforeExecveDoesNotHoldUpAnother(_ strategy: SpawnStrategy) async throws {
        let output = AgentSpawnerTests.Output()
        let race = try await OwnThread.run { () throws -> Race in
            let cgroup = try Self.frozenCgroup()
            defer { cgroup.remove() }
            var race = Race()
            var frozen = Self.sleeper(output)
            frozen.cgroupFD = cgroup.fd
            frozen.strategy = strategy
            let first = Outcome.start(frozen)
            race.firstReachedItsCgroup = OwnThread.poll { Self.hasMembers(cgroup) }
            let second = Outcome.start(Self.sleeper(output))
            _ = OwnThread.poll(timeout: .seconds(20)) { second.isDone }
            race.overtaken = second.isDone && !first.isDone
            Self.thaw(cgroup)
            race.bothSpawned = first.end() && second.end()
            return race
        }
        #expect(race.firstReachedItsCgroup, "the first child never reached its cgroup")
        #expect(race.overtaken, "a second spawn waited for one held before execve")
        #expect(race.bothSpawned, "a spawn failed")
    }

    /// A held child waiting for its placement has a copy of every descriptor corral had at the
    /// clone, among them the report pipe of a spawn under way on another thread: it closes them
    /// before it waits, or that spawn would wait for it (a pipe reports execve when its last
    /// writer is gone). The other spawn is kept under way by a frozen cgroup until the held
    /// child exists.
    @Test(.enabled(if: CgroupSupport.available, "\(CgroupSupport.unavailableReason)"))
    func aHeldChildDoesNotHoldUpTheExecReportOfAnotherSpawn() async throws {
        let output = AgentSpawnerTests.Output()
        let race = try await OwnThread.run { () throws -> Race in
            let cgroup = try Self.frozenCgroup()
            defer { cgroup.remove() }
            var race = Race()
            var frozen = Self.sleeper(output)
            frozen.cgroupFD = cgroup.fd
            let first = Outcome.start(frozen)
            race.firstReachedItsCgroup = OwnThread.poll { Self.hasMembers(cgroup) }

            let placing = Atomic<Int32>(0)
            let release = Atomic<Bool>(false)
            var held = Self.sleeper(output)
            held.placeBeforeExec = { pid throws(CorralError) in
                placing.store(pid, ordering: .sequentiallyConsistent)
                _ = OwnThread.poll(timeout: .seconds(60)) { release.load(ordering: .sequentiallyConsistent) }
            }
            let second = Outcome.start(held)
            _ = OwnThread.poll { placing.load(ordering: .sequentiallyConsistent) != 0 }

            Self.thaw(cgroup)
            _ = OwnThread.poll(timeout: .seconds(20)) { first.isDone }
            race.overtaken = first.isDone && !second.isDone
            release.store(true, ordering: .sequentiallyConsistent)
            race.bothSpawned = first.end() && second.end()
            return race
        }
        #expect(race.firstReachedItsCgroup, "the first child never reached its cgroup")
        #expect(race.overtaken, "the first spawn waited for the held child to run")
        #expect(race.bothSpawned, "a spawn failed")
    }
}
