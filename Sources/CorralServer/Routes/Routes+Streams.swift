extension Routes {
    /// The long-lived responses: the event stream and a session's log, followed.
    static let streams: [Route] = [
        Route(
            .get, "/api/events", access: .caller(.read), limit: .stream,
            operation: .init(
                summary: "Session events as Server-Sent Events",
                description: "Counts toward the caller's max_streams_per_token (with followed logs); past it, 429.",
                response: .init(description: "event: <type>, id: <sequence>, data: <Event as JSON>", content: [("text/event-stream", .string)])
            ),
            handler: { $0.streaming.eventStream }
        ),
        Route(
            .get, "/api/sessions/{id}/logs", access: .caller(.read), audit: "logs", limit: .stream,
            operation: .init(
                summary: "The agent's output",
                description: "For everyone but admins, secrets in the lines are redacted. "
                    + "A followed log counts toward the caller's max_streams_per_token (with event streams); past it, 429.",
                parameters: [
                    .sessionID,
                    .query("tail", schema: .json(#"{"type": "integer", "minimum": 0, "maximum": 100000, "default": 100}"#)),
                    .flag("follow"),
                ],
                response: .init(description: "the last lines, then (follow) what is written until the session ends", content: [("text/plain", .string)])
            ),
            handler: { $0.streaming.logs }
        ),
    ]
}
