import CorralPlatform
import Foundation

/// Does the blocking part of starting an agent on the spawner's threads, off the supervisor, in
/// one go once the session's record is written: finding the program, creating the session's
/// log, the cgroup, the clone and the wait until the child has called execve. Two starts run
/// side by side. The leader is registered with the monitor before the spawn returns, so its
/// exit is never missed; the supervisor may hear of that exit before it hears of the spawn.
struct AgentLauncher: Sendable {
    let containment: any Containment
    let monitor: ProcessMonitor
    let dataDirectory: DataDirectory
    let executor: SpawnExecutor

    /// A spawned agent: its tree and the log it writes to.
    struct Launched: Sendable {
        let tree: any ContainedTree
        let logPath: String
    }

    /// Finds the program (`command[0]`, looked up in `searchPath` if it has no "/"), creates the
    /// session's log and spawns the agent with it as stdout and stderr. `started` is told the
    /// leader's pid and `exited` its exit, both from other threads; `started` comes before any
    /// notify message of the agent's can reach the supervisor (see `ProcessMonitor.withSpawnGate`).
    func launch(
        _ launch: AgentLaunch,
        searchPath: String?,
        started: @escaping @Sendable (Int32) -> Void,
        exited: @escaping ProcessMonitor.ExitHandler
    ) async throws(CorralError) -> Launched {
        let containment = containment
        let monitor = monitor
        let dataDirectory = dataDirectory
        let executor = executor
        let trace = PhaseTrace.current
        return try await executor.run { () throws(CorralError) -> Launched in
            let result = PhaseTrace.$current.withValue(trace) { () -> Result<Launched, CorralError> in
            trace?.mark("spawner")
            do throws(CorralError) {
            var launch = launch
            let program = launch.arguments[0]
            guard let executable = AgentCommand.resolve(program, workingDirectory: launch.workingDirectory, searchPath: searchPath) else {
                throw CorralError(.spawnFailed, "program '\(program)' was not found or is not executable")
            }
            let log = try dataDirectory.createLog(for: launch.sessionID)
            trace?.mark("log made")
            defer { Syscall.close(log.fd) }
            launch.executable = executable
            launch.outputFD = log.fd
            let tree = try containment.launch(launch, monitor: monitor) { tree throws(CorralError) in
                started(tree.leader.pid)
                do throws(SystemError) {
                    try tree.watchLeaderExit(exited)
                } catch {
                    throw CorralError(.spawnFailed, "cannot watch the agent's exit", underlying: error)
                }
            }
            trace?.mark("spawn returned")
            // The next start's log, made once this one has been answered.
            executor.whenIdle { dataDirectory.makeLogSpares() }
            return .success(Launched(tree: tree, logPath: log.path))
            } catch {
                return .failure(error)
            }
            }
            return try result.get()
        }
    }
}
