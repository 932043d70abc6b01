import Foundation

/// Does the blocking part of starting an agent on the spawner's threads, off the supervisor:
/// finding the program, creating the session's log, then (once the record is written) the
/// cgroup, the clone and the wait until the child has called execve. Two starts run side by
/// side. The leader is registered with the monitor before the spawn returns, so its exit is
/// never missed; the supervisor may hear of that exit before it hears of the spawn.
struct AgentLauncher: Sendable {
    let containment: any Containment
    let monitor: ProcessMonitor
    let dataDirectory: DataDirectory
    let executor: SpawnExecutor

    /// What a start needs before its record is written.
    struct Prepared: Sendable {
        let executable: String
        /// The session's log, open: it becomes the agent's stdout and stderr.
        let logFD: Int32
        let logPath: String
    }

    /// Finds the program (`command[0]`, looked up in the agent's PATH if it has no "/") and
    /// creates the session's log.
    func prepare(_ settings: SessionSettings, searchPath: String?) async throws(CorralError) -> Prepared {
        let dataDirectory = dataDirectory
        return try await executor.run { () throws(CorralError) -> Prepared in
            let profile = settings.profile
            guard let executable = AgentCommand.resolve(profile.command[0], workingDirectory: profile.workingDirectory, searchPath: searchPath) else {
                throw CorralError(.spawnFailed, "agent '\(settings.agent)': program '\(profile.command[0])' was not found or is not executable")
            }
            let log = try dataDirectory.createLog(for: settings.id)
            return Prepared(executable: executable, logFD: log.fd, logPath: log.path)
        }
    }

    /// Spawns the agent; `started` is told the leader's pid and `exited` its exit, both from
    /// other threads, `started` before the agent runs any code of its own.
    func spawn(
        _ launch: AgentLaunch,
        started: @escaping @Sendable (Int32) -> Void,
        exited: @escaping ProcessMonitor.ExitHandler
    ) async throws(CorralError) -> any ContainedTree {
        let containment = containment
        let monitor = monitor
        return try await executor.run { () throws(CorralError) -> any ContainedTree in
            try containment.launch(launch, monitor: monitor) { tree throws(CorralError) in
                started(tree.leader.pid)
                do throws(SystemError) {
                    try tree.watchLeaderExit(exited)
                } catch {
                    throw CorralError(.spawnFailed, "cannot watch the agent's exit", underlying: error)
                }
            }
        }
    }
}
