import CorralPlatform
/// A profile whose sessions are forked from a warm template (`template`): corral keeps one
/// template of the profile running per node, loaded once, and forks each session from it.
public struct TemplateSettings: Sendable, Equatable {
    /// The template's own memory limit: what its forks share with it is charged to it.
    public var memoryLimitMB: Int?
    /// How long the template has to send `READY=1`; nil: `startup_timeout_seconds`.
    public var startupTimeoutSeconds: Double?
    /// How long the template has to answer one fork request before it is replaced.
    public var forkTimeoutSeconds = 5.0
    /// Fork requests that may wait for the template at once; a start past it gets 503.
    public var maxQueuedForks = 64

    public init() {}

    /// The limits of the template's own cgroup.
    public var limits: ResourceLimits {
        ResourceLimits(memoryBytes: memoryLimitMB.map { UInt64($0) * 1024 * 1024 })
    }
}
