import CCorralShims

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// What the spawner needs to start one agent.
package struct SpawnRequest {
    package var executable: String
    package var arguments: [String]
    package var environment: [String]
    package var workingDirectory: String?
    /// Receives the agent's stdout and stderr.
    package var outputFD: Int32
    /// A cgroup v2 directory to start the agent in, or nil.
    package var cgroupFD: Int32?
    /// Runs with the child's pid after it is created and before it calls execve (it waits), to
    /// place it (e.g. into cgroups) before it runs any code of its own. Throwing kills it.
    package var placeBeforeExec: ((Int32) throws(CorralError) -> Void)?
    /// The user the agent runs as, if not corral's.
    package var user: AgentUser?
    /// A descriptor the agent inherits, and the number it gets there.
    package var inheritedFD: (fd: Int32, target: Int32)?
    /// How the child is created: `.automatic` but in tests, which force each strategy in turn
    /// (one that cannot be had on this host fails with ENOSYS).
    package var strategy: SpawnStrategy = .automatic

    package init(
        executable: String,
        arguments: [String],
        environment: [String],
        workingDirectory: String? = nil,
        outputFD: Int32,
        cgroupFD: Int32? = nil,
        placeBeforeExec: ((Int32) throws(CorralError) -> Void)? = nil,
        user: AgentUser? = nil,
        inheritedFD: (fd: Int32, target: Int32)? = nil,
        strategy: SpawnStrategy = .automatic
    ) {
        self.executable = executable
        self.arguments = arguments
        self.environment = environment
        self.workingDirectory = workingDirectory
        self.outputFD = outputFD
        self.cgroupFD = cgroupFD
        self.placeBeforeExec = placeBeforeExec
        self.user = user
        self.inheritedFD = inheritedFD
        self.strategy = strategy
    }
}

/// A process started as leader of its own session and process group.
package struct SpawnedProcess {
    package let pidFD: PidFD
    package let startedInCgroup: Bool
    package let strategy: SpawnStrategy
    /// What the child read of itself before execve (vfork-style), else nil.
    let reportedStartTime: UInt64?
    package var pid: Int32 { pidFD.pid }

    /// The process's start time (`/proc/PID/stat`), which with the pid names it for good. Taken
    /// from the child's own report where it made one: read from outside, /proc waits until the
    /// child's execve is done.
    package var startTime: UInt64? { reportedStartTime ?? ProcFS.stat(pid)?.startTime }
}

/// Starts agents through the C shim (clone + setsid + execve), never through a shell.
package enum AgentSpawner {
    package enum Failure: Error {
        /// The child was created but failed before execve (and has been reaped).
        case childFailed(step: SpawnStep, SystemError)
        /// Starting inside the cgroup was refused; nothing was started.
        case cgroupRefused(SystemError)
        /// `placeBeforeExec` failed; the child was killed before it ran.
        case placementFailed(CorralError)
        case system(SystemError)
    }

    package static func spawn(_ request: SpawnRequest) throws(Failure) -> SpawnedProcess {
        var result = corral_spawn_result()
        var placementError: CorralError?
        let code = try withSpec(request) { spec in
            var code = corral_spawn(&spec, &result)
            if code == 0, let place = request.placeBeforeExec {
                do throws(CorralError) {
                    try place(result.pid)
                } catch {
                    corral_spawn_abort(&result)
                    placementError = error
                    return -1
                }
                code = corral_spawn_release(&result)
            }
            return code
        }
        if let placementError { throw .placementFailed(placementError) }
        return try spawned(result, code: code, request: request)
    }

    /// Runs `body` with the C form of `request` (its stdin /dev/null), valid only inside it.
    static func withSpec(_ request: SpawnRequest, _ body: (inout corral_spawn_request) -> Int32) throws(Failure) -> Int32 {
        let devNull = open("/dev/null", O_RDONLY | O_CLOEXEC)
        guard devNull >= 0 else { throw .system(SystemError("open(/dev/null)", errno: errno)) }
        defer { Syscall.close(devNull) }

        let argv = CStringArray(request.arguments)
        let envp = CStringArray(request.environment)
        let groups = request.user?.groups ?? []
        return request.executable.withCString { path in
            withOptionalCString(request.workingDirectory) { cwd in groups.withUnsafeBufferPointer { groupList in
                var spec = corral_spawn_request(
                    path: path,
                    argv: argv.pointer,
                    envp: envp.pointer,
                    cwd: cwd,
                    stdin_fd: devNull,
                    output_fd: request.outputFD,
                    cgroup_fd: request.cgroupFD ?? -1,
                    inherit_fd: request.inheritedFD?.fd ?? -1,
                    inherit_target_fd: request.inheritedFD?.target ?? -1,
                    hold: request.placeBeforeExec == nil ? 0 : 1,
                    set_ids: request.user == nil ? 0 : 1,
                    uid: request.user?.uid ?? 0,
                    gid: request.user?.gid ?? 0,
                    groups: groupList.baseAddress,
                    group_count: Int32(groupList.count),
                    strategy: request.strategy
                )
                return body(&spec)
            } }
        }
    }

    /// The spawned process `result` describes, or the failure `code` (an errno) stands for.
    static func spawned(_ result: corral_spawn_result, code: Int32, request: SpawnRequest) throws(Failure) -> SpawnedProcess {
        if code != 0 {
            switch result.failed_step {
            case .clone where request.cgroupFD != nil:
                throw .cgroupRefused(SystemError("clone3(CLONE_INTO_CGROUP)", errno: code))
            case .clone: throw .system(SystemError("clone", errno: code))
            case .cgroup: throw .cgroupRefused(SystemError("entering the cgroup (cgroup.procs)", errno: code))
            case .chdir: throw .childFailed(step: .chdir, SystemError("chdir(\(request.workingDirectory ?? ""))", errno: code))
            case .exec: throw .childFailed(step: .exec, SystemError("execve(\(request.executable))", errno: code))
            case .setup: throw .childFailed(step: .setup, SystemError("child setup", errno: code))
            case .userNamespace: throw .system(SystemError("writing the session's user namespace maps", errno: code))
            case .namespaceInit: throw .childFailed(step: .namespaceInit, SystemError("starting the pid namespace's init", errno: code))
            }
        }
        // Every strategy clones with CLONE_PIDFD.
        guard result.pidfd >= 0 else {
            _ = Glibc.kill(-result.pid, SIGKILL)
            throw .system(SystemError("clone(CLONE_PIDFD)", errno: EBADF))
        }
        let pidFD = PidFD(pid: result.pid, adopting: result.pidfd)
        return SpawnedProcess(
            pidFD: pidFD, startedInCgroup: result.in_cgroup != 0, strategy: result.strategy,
            reportedStartTime: result.start_time == 0 ? nil : UInt64(result.start_time)
        )
    }

    static func withOptionalCString<R>(_ string: String?, _ body: (UnsafePointer<CChar>?) -> R) -> R {
        guard let string else { return body(nil) }
        return string.withCString { body($0) }
    }
}

/// A NULL-terminated array of C strings, freed on deinit.
final class CStringArray {
    let pointer: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>
    private let count: Int

    init(_ strings: [String]) {
        count = strings.count
        pointer = .allocate(capacity: strings.count + 1)
        for (index, string) in strings.enumerated() {
            pointer[index] = strdup(string)
        }
        pointer[strings.count] = nil
    }

    deinit {
        for index in 0..<count { free(pointer[index]) }
        pointer.deallocate()
    }
}
