import CorralPlatform
/// How corral starts one kind of agent.
public struct AgentProfile: Sendable, Equatable {
    /// When a freshly spawned agent counts as running.
    public enum Readiness: String, Sendable, Equatable, CaseIterable {
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
    /// The most processes the session may have at once.
    public var pidsLimit: Int?
    /// CPU time as a fraction of one core (0.5, 2).
    public var cpuLimit: Double?
    /// Who the agent runs as (`user`/`group` in the profile), if not corral's own user.
    public var user: AgentUser?
    /// A LiveKit agent: its sessions need a room, and it gets `LIVEKIT_URL`, `LIVEKIT_ROOM` and
    /// a `LIVEKIT_TOKEN` minted for it.
    public var livekit = false
    /// Idle agents of this profile kept running, loaded and ready, to be handed sessions.
    public var prewarm = 0
    /// Register a LiveKit agent worker for the profile and run the jobs it is dispatched.
    public var livekitWorker: LiveKitWorkerSettings?
    /// Sessions are forked from a warm template of the profile (see `docs/templates.md`).
    public var template: TemplateSettings?

    public init(
        command: [String],
        environment: [String: String] = [:],
        workingDirectory: String? = nil,
        readiness: Readiness = .exec,
        memoryLimitMB: Int? = nil,
        pidsLimit: Int? = nil,
        cpuLimit: Double? = nil
    ) {
        self.command = command
        self.environment = environment
        self.workingDirectory = workingDirectory
        self.readiness = readiness
        self.memoryLimitMB = memoryLimitMB
        self.pidsLimit = pidsLimit
        self.cpuLimit = cpuLimit
    }

    /// Whether its agents are given corral's notify socket: to say when they are ready, and, when
    /// prewarmed, when they are loaded.
    /// Prewarmed agents and templates say `READY=1` whatever the profile's `ready`.
    public var usesNotifySocket: Bool { readiness == .notify || prewarm > 0 || template != nil }

    public var limits: ResourceLimits {
        ResourceLimits(memoryBytes: memoryLimitMB.map { UInt64($0) * 1024 * 1024 }, pids: pidsLimit, cpu: cpuLimit)
    }
}
