extension Routes {
    /// Outside `/api`: the probes, the dashboard page, metrics and the OpenAPI document.
    static let site: [Route] = [
        Route(
            .get, "/healthz", access: .probe, limit: .none,
            operation: .init(
                summary: "Liveness",
                response: .init(
                    description: "alive",
                    content: [("application/json", .json(#"{"type": "object", "required": ["status"], "properties": {"status": {"const": "ok"}}}"#))]
                )
            ),
            handler: { $0.site.healthz }
        ),
        Route(
            .get, "/readyz", access: .probe, limit: .none,
            operation: .init(
                summary: "Readiness: corral takes new sessions (not draining or stopping), the session store takes a write and the data directory's filesystem is not full",
                response: .init(
                    description: "ready",
                    content: [("application/json", .json(#"{"type": "object", "required": ["status"], "properties": {"status": {"type": "string"}}}"#))]
                ),
                otherResponses: [
                    .init(
                        status: .serviceUnavailable, description: "corral is draining or stopping, the store does not take a write, or the data directory's filesystem is full",
                        content: [
                            (
                                "application/json",
                                .json(
                                    #"{"type": "object", "required": ["status", "error", "code"], "properties": {"status": {"type": "string"}, "error": {"type": "string"}, "code": {"const": "unavailable"}}}"#
                                )
                            )
                        ]
                    )
                ]
            ),
            handler: { $0.site.readyz }
        ),
        Route(
            .get, "/metrics", access: .page, limit: .none,
            operation: .init(summary: "Prometheus metrics", response: .init(description: "text exposition format", content: [("text/plain", .string)])),
            handler: { $0.site.metrics }
        ),
        Route(
            .get, "/openapi.json", access: .page, limit: .none,
            operation: .init(summary: "The OpenAPI 3.1 description of the API (this document)", response: .init(description: "OpenAPI 3.1", content: [("application/json", .object)])),
            handler: { $0.site.openAPI }
        ),
        // The page holds no data; what it shows comes from /api/*, with the token. No page may
        // frame it (its End buttons under another site's page); every answer says so (FrameGuard).
        Route(
            .get, "/", access: .page, limit: .none,
            operation: .init(
                summary: "The dashboard page",
                response: .init(
                    description: "HTML; no page may frame it",
                    content: [("text/html", .string)],
                    headers: [
                        ("Content-Security-Policy", .json(#"{"type": "string", "pattern": "frame-ancestors 'none'"}"#)),
                        ("X-Frame-Options", .json(#"{"const": "DENY"}"#)),
                    ]
                )
            ),
            handler: { $0.site.dashboard }
        ),
    ]
}
