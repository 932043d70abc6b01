import CorralCore
import Hummingbird
import Prometheus

/// The routes outside `/api`: the probes, the dashboard page, metrics and the OpenAPI document.
struct SiteRoutes: Sendable {
    let supervisor: Supervisor
    let metricsRegistry: PrometheusCollectorRegistry
    /// Written when the router is built, so that a mistake in a route's declaration shows then.
    let openAPIDocument = OpenAPIDocument.json

    @Sendable func healthz(_ request: Request, context: CorralRequestContext) async throws -> Response {
        JSONBody.response(["status": "ok"])
    }

    /// Ready to take sessions: corral accepts them (it is not draining or stopping: a load
    /// balancer, a Kubernetes Service, stops sending starts at once), the store takes a write
    /// and the data directory's filesystem is not full.
    @Sendable func readyz(_ request: Request, context: CorralRequestContext) async throws -> Response {
        guard await supervisor.isAccepting else {
            return JSONBody.response(
                ["status": "unavailable", "error": "corral is stopping (draining) and takes no new sessions", "code": "unavailable"], status: .serviceUnavailable
            )
        }
        if let problem = await supervisor.readinessProblem() {
            return JSONBody.response(["status": "unavailable", "error": problem, "code": "unavailable"], status: .serviceUnavailable)
        }
        return JSONBody.response(["status": "ready"])
    }

    @Sendable func dashboard(_ request: Request, context: CorralRequestContext) async throws -> Response {
        Response(
            status: .ok,
            headers: [
                .contentType: "text/html; charset=utf-8",
                .contentSecurityPolicy: "default-src 'self'; style-src 'self' 'unsafe-inline'; script-src 'self' 'unsafe-inline'; img-src 'self' data:",
            ],
            body: .init(byteBuffer: ByteBuffer(string: DashboardPage.html))
        )
    }

    @Sendable func metrics(_ request: Request, context: CorralRequestContext) async throws -> Response {
        Response(
            status: .ok,
            headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: metricsRegistry.emitToBuffer()))
        )
    }

    @Sendable func openAPI(_ request: Request, context: CorralRequestContext) async throws -> Response {
        Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: openAPIDocument)))
    }
}
