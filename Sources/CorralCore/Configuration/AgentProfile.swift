/// How corral starts one kind of agent.
public struct AgentProfile: Sendable, Equatable {
    /// When a freshly spawned agent counts as running.
    public enum Readiness: String, Sendable, Equatable {
        /// As soon as it has been spawned.
        case exec
        /// Once it sends `READY=1` to `$NOTIFY_SOCKET`.
        case notify
    }

    /// The argument vector; never run through a shell.
    public var command: [String]
    public var environment: [String: String]
    public var workingDirectory: String?
    public var readiness: Readiness
    public var memoryLimitMB: Int?

    public init(
        command: [String],
        environment: [String: String] = [:],
        workingDirectory: String? = nil,
        readiness: Readiness = .exec,
        memoryLimitMB: Int? = nil
    ) {
        self.command = command
        self.environment = environment
        self.workingDirectory = workingDirectory
        self.readiness = readiness
        self.memoryLimitMB = memoryLimitMB
    }
}
