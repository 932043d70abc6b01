extension Routes {
    /// What the dashboard shows besides sessions.
    static let operators: [Route] = [
        Route(
            .get, "/api/livekit/workers", access: .caller(.read), limit: .slot,
            operation: .init(
                summary: "The LiveKit agent workers",
                description: "One per profile with livekit_worker: its connection (phase, worker id, last error), whether it takes "
                    + "jobs, its load and its jobs. Empty without workers.",
                response: .init(
                    description: "the workers",
                    content: [
                        (
                            "application/json",
                            .json(
                                ##"{"type": "object", "required": ["workers"], "properties": {"workers": {"type": "array", "items": {"type": "object", "required": ["profile", "agent_name", "connected", "phase", "worker_id", "available", "load", "jobs", "max_jobs", "last_error"], "properties": {"profile": {"type": "string"}, "agent_name": {"type": "string"}, "connected": {"type": "boolean"}, "phase": {"type": "string", "enum": ["idle", "connecting", "registered", "waiting_to_retry", "stopped"]}, "worker_id": {"type": ["string", "null"]}, "available": {"type": "boolean"}, "load": {"type": "number"}, "jobs": {"type": "integer"}, "max_jobs": {"type": "integer"}, "last_error": {"type": ["string", "null"]}}}}}}"##
                            )
                        )
                    ]
                )
            ),
            handler: { $0.operators.livekitWorkers }
        ),
        Route(
            .get, "/api/activity", access: .caller(.read), limit: .slot,
            operation: .init(
                summary: "Active sessions and jobs over the last hour",
                description: "Minute by minute, the most seen in each (null: nothing recorded, corral was not running).",
                response: .init(
                    description: "60 minutes, oldest first",
                    content: [
                        (
                            "application/json",
                            .json(
                                ##"{"type": "object", "required": ["minutes"], "properties": {"minutes": {"type": "array", "items": {"type": "object", "required": ["start", "sessions", "jobs"], "properties": {"start": {"type": "string", "format": "date-time"}, "sessions": {"type": ["integer", "null"]}, "jobs": {"type": ["integer", "null"]}}}}}}"##
                            )
                        )
                    ]
                )
            ),
            handler: { $0.operators.activity }
        ),
    ]
}
