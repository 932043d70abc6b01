extension Routes {
    /// `/api/sessions`, a session's processes, and the prewarmed agents.
    static let sessions: [Route] = [
        Route(
            .post, "/api/sessions", access: .caller(.operate), audit: "start", limit: .slot,
            operation: .init(
                summary: "Start a session",
                description: "Spawns the agent profile's command as the leader of a new session and process group. "
                    + "A body must be sent with Content-Type: application/json; without a body the defaults apply.",
                requestBody: .init(required: false, content: [("application/json", .ref("StartRequest"))]),
                response: .init(
                    status: .created, description: "started", content: [("application/json", .ref("Session"))],
                    headers: [("Corral-Session-Id", .string)]
                ),
                // No such agent; the id in use; session_starts_per_second; the agent would not start.
                errors: [.notFound, .conflict, .tooManyRequests, .internalServerError]
            ),
            handler: { $0.sessions.start }
        ),
        Route(
            .get, "/api/sessions", access: .caller(.read), limit: .slot,
            operation: .init(
                summary: "List live sessions",
                parameters: [.flag("usage", description: "Also report processes and memory_bytes per session.")],
                response: .init(
                    description: "the sessions",
                    content: [
                        (
                            "application/json",
                            .json(##"{"type": "object", "required": ["sessions"], "properties": {"sessions": {"type": "array", "items": {"$ref": "#/components/schemas/Session"}}}}"##)
                        )
                    ]
                )
            ),
            handler: { $0.sessions.list }
        ),
        Route(
            .get, "/api/sessions/{id}", access: .caller(.read), limit: .slot,
            operation: .init(
                summary: "One live session",
                parameters: [.sessionID],
                response: .init(description: "the session", content: [("application/json", .ref("Session"))])
            ),
            handler: { $0.sessions.show }
        ),
        Route(
            .delete, "/api/sessions/{id}", access: .caller(.operate), audit: "end", limit: .slot,
            operation: .init(
                summary: "End a session",
                description: "SIGTERM to every process of the session, SIGKILL after grace_seconds; answers once nothing of it is left.",
                parameters: [.sessionID],
                response: .init(description: "ended", content: [("application/json", .ref("EndResult"))])
            ),
            handler: { $0.sessions.end }
        ),
        Route(
            .get, "/api/debug/session/{id}/processes", access: .caller(.read), audit: "inspect", limit: .slot,
            operation: .init(
                summary: "Every process of a session",
                description: "Command lines are redacted, and environments left out, for everyone but admins.",
                parameters: [.sessionID],
                response: .init(description: "the processes, the leader first", content: [("application/json", .ref("ProcessReport"))])
            ),
            handler: { $0.sessions.processes }
        ),
        Route(
            .get, "/api/prewarm", access: .caller(.read), limit: .slot,
            operation: .init(
                summary: "This node's idle prewarmed agents and each profile's prewarm target",
                response: .init(description: "idle agents", content: [("application/json", .ref("Prewarm"))])
            ),
            handler: { $0.sessions.prewarm }
        ),
        Route(
            .get, "/api/templates", access: .caller(.read), limit: .slot,
            operation: .init(
                summary: "This node's templates, one per profile with template",
                description: "Each profile's template: its state (starting, ready, or waiting to be started again after a failure), "
                    + "pid, forks, fork failures, restarts, the last error, fork requests waiting, and its memory (charged to it, and "
                    + "its PSS). Empty without template profiles, or without cgroups (their sessions start cold).",
                response: .init(description: "the templates", content: [("application/json", .ref("Templates"))])
            ),
            handler: { $0.sessions.templates }
        ),
    ]
}
