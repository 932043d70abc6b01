extension LiveKitWorkerSettings {
    /// The keys of a profile's `livekit_worker`. Null is the same as leaving a key out.
    static let keys = ConfigurationObject<CorralConfiguration, LiveKitWorkerSettings>(
        LiveKitWorkerSettings(),
        keys: [
            .key(
                "agent_name", .string, \.agentName, orNull: true,
                check: { $0.count > 256 ? "at most 256 characters" : nil },
                doc: "what LiveKit dispatches by (explicit dispatch); `\"\"` takes automatic dispatch for every new room"
            ),
            .key("job_type", .oneOf(), \.jobType, orNull: true, doc: "the jobs the worker takes: a room's, a publisher's or a participant's"),
            .key(
                "max_jobs", .integer(minimum: 1, maximum: 1_000_000), \.maxJobs, orNull: true,
                default: .derived("`max_sessions`", { $0.maxSessions }), doc: "jobs at once"
            ),
            .key(
                "load", .oneOf(), \.load, orNull: true,
                doc: "what the worker reports as its load: `jobs` (active jobs ÷ `max_jobs`) or `jobs+cpu` (the larger of that "
                    + "and the host's CPU pressure, from `/proc/pressure/cpu`)"
            ),
            .key(
                "load_threshold", .number(minimum: 0, exclusive: true, maximum: 1), \.loadThreshold, orNull: true,
                doc: "the load at which the worker says it is full and declines jobs"
            ),
            .key(
                "assignment_timeout_seconds", .positive, \.assignmentTimeoutSeconds, orNull: true,
                doc: "how long an accepted job's place is held (counted toward `max_sessions`) for LiveKit's assignment; "
                    + "past it the place is given up, and a later assignment runs only if there is room"
            ),
            .key(
                "participant_identity", .nonEmptyString, \.participantIdentity, orNull: true,
                check: { $0.count > 256 ? "at most 256 characters" : nil },
                doc: "the agent's identity in its room; `{job_id}` is replaced by the job's id"
            ),
        ]
    )
}
