extension Routes {
    /// What LiveKit's servers call.
    static let livekit: [Route] = [
        Route(
            .post, "/api/livekit/webhook", access: .livekitSignature, limit: .slot,
            operation: .init(
                summary: "LiveKit webhooks",
                description: "Authenticated by LiveKit's signature, not the API token: the Authorization header is LiveKit's HS256 JWT "
                    + "(no Bearer prefix) with a sha256 claim of the body; the token is checked before the body (64 KiB at most) is read. "
                    + "room_finished ends the room's sessions, participant_left ends the agent of that identity in that room, "
                    + "room_started starts auto_dispatch_agent. An event this node has acted on (same id, kept in the store: "
                    + "also after a restart), or created longer ago than a signature is valid (6 minutes), is answered 200 with "
                    + "`ignored` and changes nothing; while the store cannot record an id, 503 and nothing is done.",
                requestBody: .init(required: true, content: [("application/webhook+json", .object), ("application/json", .object)]),
                response: .init(
                    description: "handled, or ignored",
                    content: [
                        (
                            "application/json",
                            .json(
                                #"{"type": "object", "required": ["event"], "properties": {"event": {"type": "string"}, "ignored": {"type": "string", "description": "why nothing was done: already acted on, created too long ago"}}}"#
                            )
                        )
                    ]
                ),
                // LiveKit is not configured.
                errors: [.notFound]
            ),
            handler: { $0.livekit.receive }
        )
    ]
}
