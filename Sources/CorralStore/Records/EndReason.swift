import CorralPlatform
/// Why a session ended.
public enum EndReason: Sendable, Equatable, CustomStringConvertible {
    /// `DELETE /api/sessions/{id}` (or the CLI).
    case deleted
    /// The session reached its deadline.
    case timeout
    /// A `ready: notify` agent did not send `READY=1` in time.
    case startupTimeout
    /// The agent's leader exited by itself.
    case exited(ExitStatus)
    /// corral is shutting down.
    case shutdown
    /// The session could not be set up (e.g. its record could not be written) and was undone.
    case failedToStart
    /// The session went over its profile's `memory_limit_mb`.
    case memoryLimit
    /// The session went over its profile's `pids_limit`.
    case pidsLimit
    /// LiveKit said the session's room finished.
    case roomFinished
    /// LiveKit said the agent's participant left its room.
    case participantLeft
    /// LiveKit ended the job the session ran (`JobTermination`).
    case jobTerminated
    /// A prewarmed agent did not acknowledge the session it was handed.
    case assignFailed
    /// An idle prewarmed agent found after a restart of corral: its assignment channel is gone,
    /// so it is replaced by a fresh one.
    case replaced
    /// A template answered garbage, stopped answering fork requests, or closed its channel: it
    /// is replaced.
    case templateFailed

    package init(_ violation: LimitViolation) {
        switch violation {
        case .memory: self = .memoryLimit
        case .pids: self = .pidsLimit
        }
    }

    /// The stable name used in logs and metrics.
    public var name: String {
        switch self {
        case .deleted: "deleted"
        case .timeout: "timeout"
        case .startupTimeout: "startup_timeout"
        case .exited: "exited"
        case .shutdown: "shutdown"
        case .failedToStart: "failed_to_start"
        case .memoryLimit: "memory_limit"
        case .pidsLimit: "pids_limit"
        case .roomFinished: "room_finished"
        case .participantLeft: "participant_left"
        case .jobTerminated: "job_terminated"
        case .assignFailed: "assign_failed"
        case .replaced: "replaced"
        case .templateFailed: "template_failed"
        }
    }

    public var description: String {
        if case .exited(let status) = self { return "exited (\(status))" }
        return name
    }
}
