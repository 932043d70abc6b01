/// A profile that is a LiveKit agent worker (`livekit_worker`): corral registers one worker for
/// it with the LiveKit server in `livekit`, and runs each job LiveKit dispatches to it as a
/// session of the profile.
public struct LiveKitWorkerSettings: Sendable, Equatable {
    /// What kind of job the worker takes (LiveKit's `JobType`).
    public enum JobType: String, Sendable, Equatable, CaseIterable {
        case room, publisher, participant
    }

    /// What the worker reports as its load.
    public enum Load: String, Sendable, Equatable, CaseIterable {
        /// Active jobs ÷ `max_jobs`.
        case jobs
        /// The larger of that and the host's CPU pressure.
        case jobsAndCPU = "jobs+cpu"
    }

    /// What LiveKit dispatches by; `""` takes automatic dispatch for every new room.
    public var agentName = ""
    public var jobType = JobType.room
    /// Jobs at once; by default `max_sessions`.
    public var maxJobs = 0
    public var load = Load.jobs
    /// The load at which the worker says it is full (and declines jobs).
    public var loadThreshold = 1.0
    /// How long an accepted job's place is held waiting for its assignment.
    public var assignmentTimeoutSeconds = 10.0
    /// The agent's identity in the room; `{job_id}` is replaced by the job's id.
    public var participantIdentity = "agent-{job_id}"

    public init() {}

    /// The identity the agent of `jobID` joins its room as.
    public func identity(forJob jobID: String) -> String {
        participantIdentity.replacingOccurrences(of: "{job_id}", with: jobID)
    }
}
