import CorralCore
import CorralPlatform
import CorralSecurity
import Hummingbird
import CorralStore

/// `/api/sessions`, `/api/debug/session/{id}/processes` and `/api/prewarm` (declared in
/// `Routes.sessions`, which checks the caller's role before any of these runs).
struct SessionRoutes {
    typealias Context = CorralRequestContext

    let supervisor: Supervisor
    let store: any SessionStore
    /// Bodies above this size get 413 before they are parsed.
    let maxBodyBytes: Int
    let startLimiter: StartRateLimiter
    let redactor: Redactor
    /// Set when several nodes share a Redis store.
    let cluster: ClusterRouting?
    let maxSessions: Int

    /// `GET /api/prewarm`: this node's idle prewarmed agents, and each profile's `prewarm`.
    @Sendable func prewarm(_ request: Request, context: Context) async throws -> Response {
        let idle = await supervisor.idleAgents().map(IdleAgentJSON.init)
        return JSONBody.response(PrewarmJSON(targets: await supervisor.prewarmTargets, idle: idle))
    }

    /// `GET /api/templates`: each template profile's template on this node.
    @Sendable func templates(_ request: Request, context: Context) async throws -> Response {
        JSONBody.response(TemplateListJSON(templates: await supervisor.templateStatuses().map(TemplateJSON.init)))
    }

    @Sendable func start(_ request: Request, context: Context) async throws -> Response {
        let trace = PhaseTrace.begin("start")
        trace?.mark("handler")
        var traceLabel: String?
        defer { trace?.finish(as: traceLabel) }
        let caller = context.caller
        let buffer = try await RequestBodyReader.collect(request, limit: maxBodyBytes, what: "the request body")
        let bytes = Array(buffer.readableBytesView)
        let startRequest = try StartSessionBody.parse(bytes)
        if trace != nil { traceLabel = startRequest.sessionID.map { "start " + PhaseTrace.kind(of: $0.rawValue) } }
        try startLimiter.admit(caller.name)
        // No room here: the least-loaded node with room takes it.
        if let cluster, !ClusterRouting.isForwarded(context), await supervisor.sessionCount >= maxSessions,
            let node = await cluster.nodeWithRoom()
        {
            return try await cluster.forwarder.forward(request, body: ByteBuffer(bytes: bytes), to: node, caller: caller)
        }
        trace?.mark("parsed")
        let record = try await PhaseTrace.$current.withValue(trace) { try await supervisor.start(startRequest) }
        trace?.mark("returned")
        var response = JSONBody.response(SessionJSON(record).json, status: .created)
        response.headers[AuditMiddleware.sessionHeader] = record.id.rawValue
        trace?.mark("response")
        return response
    }

    /// `GET /api/sessions[?usage=true]`: with `usage`, each session also shows `processes` and
    /// `memory_bytes` (read from its cgroup or /proc: more work, so asked for explicitly).
    @Sendable func list(_ request: Request, context: Context) async throws -> Response {
        if try StreamingRoutes.flag(request.uri.queryParameters["usage"].map(String.init), name: "usage") {
            let sessions = await supervisor.allSessionsWithUsage().map { SessionJSON($0.0, usage: $0.1) }
            return JSONBody.response(SessionListJSON(sessions: sessions + (try await remoteSessions())).json)
        }
        let local = await supervisor.allSessions().map { SessionJSON($0) }
        return JSONBody.response(SessionListJSON(sessions: local + (try await remoteSessions())).json)
    }

    /// Other nodes' sessions (cluster mode): `lost` while their node does not answer.
    private func remoteSessions() async throws -> [SessionJSON] {
        guard let cluster else { return [] }
        do {
            return try await cluster.remoteSessions().map { record, live in SessionJSON(record, status: live ? nil : "lost") }
        } catch let error as CorralError {
            throw APIError(.serviceUnavailable, "cannot list other nodes' sessions: \(error.message)")
        }
    }

    @Sendable func show(_ request: Request, context: Context) async throws -> Response {
        let id = try sessionID(context)
        if let record = await supervisor.session(id) { return JSONBody.response(SessionJSON(record).json) }
        if let cluster, let remote = try await cluster.locate(id) {
            return JSONBody.response(SessionJSON(remote.record, status: remote.node?.live == true ? nil : "lost").json)
        }
        throw APIError(.notFound, "no session '\(id)' (it may have ended)")
    }

    @Sendable func end(_ request: Request, context: Context) async throws -> Response {
        let trace = PhaseTrace.begin("end")
        trace?.mark("handler")
        let id = try sessionID(context)
        defer { trace?.finish(as: "end " + PhaseTrace.kind(of: id.rawValue)) }
        if let remote = try await remoteLocation(of: id, context) { return try await cluster!.forward(request, to: remote, caller: context.caller) }
        trace?.mark("located")
        let result = try await PhaseTrace.$current.withValue(trace) { try await supervisor.end(id) }
        trace?.mark("returned")
        return JSONBody.response(EndResultJSON(result))
    }

    /// Admins see every command line and environment as it is; everyone else sees secrets
    /// replaced by `[redacted]` and no environments.
    @Sendable func processes(_ request: Request, context: Context) async throws -> Response {
        let caller = context.caller
        let id = try sessionID(context)
        if let remote = try await remoteLocation(of: id, context) { return try await cluster!.forward(request, to: remote, caller: context.caller) }
        let report = try await supervisor.processes(id, withEnvironments: caller.role == .admin)
        var stored: SessionRecord?
        var storeError: String?
        do {
            stored = try await store.record(id)
        } catch {
            storeError = "the stored record could not be read: \(error.message)"
        }
        return JSONBody.response(ProcessReportJSON(report, stored: stored, storeError: storeError, redactor: caller.role == .admin ? nil : redactor))
    }

    /// Where a session runs when it is not here and this request may be passed on.
    private func remoteLocation(of id: SessionID, _ context: Context) async throws -> ClusterRouting.Remote? {
        guard let cluster, !ClusterRouting.isForwarded(context), await !supervisor.isLive(id) else { return nil }
        return try await cluster.locate(id)
    }

    private func sessionID(_ context: Context) throws(APIError) -> SessionID {
        let text = context.parameters.get("id") ?? ""
        guard let id = SessionID(text) else {
            throw APIError(.badRequest, "invalid session id; \(SessionID.rule)")
        }
        return id
    }
}
