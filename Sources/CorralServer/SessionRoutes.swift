import CorralCore
import Hummingbird

/// `/api/sessions` and `/api/debug/session/{id}/processes`.
struct SessionRoutes<Context: RequestContext> {
    let supervisor: Supervisor
    let store: any SessionStore
    /// Bodies above this size get 413 before they are parsed.
    let maxBodyBytes: Int

    func register(on api: RouterGroup<Context>) {
        api.post("sessions", use: start)
        api.get("sessions", use: list)
        api.get("sessions/:id", use: show)
        api.delete("sessions/:id", use: end)
        api.get("debug/session/:id/processes", use: processes)
    }

    @Sendable func start(_ request: Request, context: Context) async throws -> Response {
        let bytes: [UInt8]
        do {
            let buffer = try await request.body.collect(upTo: maxBodyBytes)
            bytes = Array(buffer.readableBytesView)
        } catch {
            throw APIError(.contentTooLarge, "the request body is larger than \(maxBodyBytes / 1024) KiB")
        }
        let startRequest = try StartSessionBody.parse(bytes)
        let record = try await supervisor.start(startRequest)
        return JSONBody.response(SessionJSON(record), status: .created)
    }

    /// `GET /api/sessions[?usage=true]`: with `usage`, each session also shows `processes` and
    /// `memory_bytes` (read from its cgroup or /proc: more work, so asked for explicitly).
    @Sendable func list(_ request: Request, context: Context) async throws -> Response {
        if try StreamingRoutes<Context>.flag(request.uri.queryParameters["usage"].map(String.init), name: "usage") {
            let sessions = await supervisor.allSessionsWithUsage().map { SessionJSON($0.0, usage: $0.1) }
            return JSONBody.response(SessionListJSON(sessions: sessions))
        }
        return JSONBody.response(SessionListJSON(sessions: await supervisor.allSessions().map { SessionJSON($0) }))
    }

    @Sendable func show(_ request: Request, context: Context) async throws -> Response {
        let id = try sessionID(context)
        guard let record = await supervisor.session(id) else {
            throw APIError(.notFound, "no session '\(id)' (it may have ended)")
        }
        return JSONBody.response(SessionJSON(record))
    }

    @Sendable func end(_ request: Request, context: Context) async throws -> Response {
        let result = try await supervisor.end(try sessionID(context))
        return JSONBody.response(EndResultJSON(result))
    }

    @Sendable func processes(_ request: Request, context: Context) async throws -> Response {
        let id = try sessionID(context)
        let report = try await supervisor.processes(id)
        var stored: SessionRecord?
        var storeError: String?
        do {
            stored = try await store.record(id)
        } catch {
            storeError = "the stored record could not be read: \(error.message)"
        }
        return JSONBody.response(ProcessReportJSON(report, stored: stored, storeError: storeError))
    }

    private func sessionID(_ context: Context) throws(APIError) -> SessionID {
        let text = context.parameters.get("id") ?? ""
        guard let id = SessionID(text) else {
            throw APIError(.badRequest, "invalid session id; \(SessionID.rule)")
        }
        return id
    }
}
