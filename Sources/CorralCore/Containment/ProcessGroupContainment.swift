#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Containment by process group: each agent leads its own session and process group, and the
/// group is what gets signalled. A descendant that calls `setsid()` leaves the group; it is still
/// listed by `members` (corral is its subreaper and it carries `CORRAL_SESSION_ID`) but not
/// signalled.
public struct ProcessGroupContainment: Containment {
    public var kind: ContainmentKind { .processGroup }

    public init() {}

    public func launch(
        _ launch: AgentLaunch,
        monitor: ProcessMonitor,
        register: (any ContainedTree) throws(CorralError) -> Void
    ) throws(CorralError) -> any ContainedTree {
        try monitor.withSpawnGate { () throws(CorralError) -> any ContainedTree in
            let spawned = try Self.spawn(launch, cgroupFD: nil)
            let pid = spawned.pid
            let pgid = Syscall.processGroup(of: pid)
            guard pgid == pid else {
                spawned.pidFD.killAndReap()
                throw CorralError(
                    .spawnFailed,
                    "agent pid \(pid) is not the leader of its process group (pgid \(pgid.map(String.init) ?? "unknown")); refused and killed"
                )
            }
            let tree = ProcessGroupTree(leader: spawned.pidFD, leaderStartTime: ProcFS.stat(pid)?.startTime)
            do throws(CorralError) {
                try register(tree)
            } catch {
                spawned.pidFD.killAndReap()
                _ = try? Syscall.signalProcessGroup(pid, SIGKILL)
                throw error
            }
            return tree
        }
    }

    static func spawn(_ launch: AgentLaunch, cgroupFD: Int32?) throws(CorralError) -> SpawnedProcess {
        do {
            return try AgentSpawner.spawn(
                SpawnRequest(
                    executable: launch.executable,
                    arguments: launch.arguments,
                    environment: launch.environment,
                    workingDirectory: launch.workingDirectory,
                    outputFD: launch.outputFD,
                    cgroupFD: cgroupFD
                )
            )
        } catch {
            switch error {
            case .childFailed(let step, let cause) where step == "execve":
                throw CorralError(.spawnFailed, "could not execute \(launch.executable)", underlying: cause)
            case .childFailed(let step, let cause) where step == "chdir":
                throw CorralError(.spawnFailed, "could not enter the working directory \(launch.workingDirectory ?? "")", underlying: cause)
            case .childFailed(_, let cause), .cgroupRefused(let cause), .system(let cause):
                throw CorralError(.spawnFailed, "could not start the agent", underlying: cause)
            }
        }
    }
}

/// One session held by its process group.
final class ProcessGroupTree: ContainedTree {
    let leader: PidFD
    let leaderStartTime: UInt64?
    var kind: ContainmentKind { .processGroup }
    var pgid: Int32 { leader.pid }

    init(leader: PidFD, leaderStartTime: UInt64?) {
        self.leader = leader
        self.leaderStartTime = leaderStartTime
    }

    func signalAll(_ signal: Int32) {
        _ = try? leader.signal(signal)
        // Safe while the group has members: Linux does not reuse a pid that is still a group id.
        _ = try? Syscall.signalProcessGroup(pgid, signal)
    }

    var isEmpty: Bool { !Syscall.processGroupExists(pgid) }

    func members(sessionID: SessionID) -> ProcessListing {
        SessionProcessScanner.scan(
            leader: leader.pid,
            leaderStartTime: leaderStartTime,
            pgid: pgid,
            sessionID: sessionID
        )
    }

    func release() {
        leader.close()
    }
}
