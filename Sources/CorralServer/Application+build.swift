import CorralCore
import Hummingbird
import Logging
import Prometheus
import ServiceLifecycle

/// The parts of a running corral that a caller (the `serve` command, a test) may want to reach.
public struct CorralServices: Sendable {
    public let supervisor: Supervisor
    public let store: any SessionStore
    public let dataDirectory: DataDirectory
    public let containment: any Containment
    public let metricsRegistry: PrometheusCollectorRegistry
}

public enum CorralApp {
    /// Request bodies above this size are refused with 413.
    public static let maxBodyBytes = 64 * 1024

    /// Opens the data directory and the store and builds the supervisor.
    public static func makeServices(configuration: CorralConfiguration, logger: Logger) throws(CorralError) -> CorralServices {
        let dataDirectory = try DataDirectory(path: configuration.dataDirectory)
        let store: any SessionStore
        switch configuration.store {
        case .memory: store = MemoryStore()
        case .sqlite: store = try SQLiteStore(path: configuration.resolvedStorePath!)
        }
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.valueHistogramBuckets["corral_session_processes"] = [1, 2, 3, 5, 10, 20, 50, 100, 200, 500, 1000]
        factory.durationHistogramBuckets["corral_session_end_duration_seconds"] = [
            .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250),
            .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10), .seconds(30), .seconds(60),
        ]
        let containment = try ContainmentSelector.select(configuration, logger: logger)
        let supervisor = Supervisor(
            configuration: configuration,
            dataDirectory: dataDirectory,
            store: store,
            containment: containment,
            metrics: CorralMetrics(factory: factory),
            logger: logger
        )
        return CorralServices(
            supervisor: supervisor,
            store: store,
            dataDirectory: dataDirectory,
            containment: containment,
            metricsRegistry: registry
        )
    }

    /// The whole HTTP application: routes, auth, errors, and the supervisor as a service that
    /// starts before the server listens and ends every session when it stops. With
    /// `includingSupervisor: false` the caller runs the supervisor itself (see `run`).
    public static func buildApplication(
        configuration: CorralConfiguration,
        services: CorralServices,
        logger: Logger,
        includingSupervisor: Bool = true
    ) -> some ApplicationProtocol {
        let router = buildRouter(configuration: configuration, services: services)
        var app = Application(
            router: router,
            configuration: .init(
                address: .hostname(configuration.listen.host, port: configuration.listen.port),
                serverName: "corral"
            ),
            logger: logger
        )
        if includingSupervisor {
            app.addServices(services.supervisor)
            if let webhook = webhookService(configuration, services, logger) { app.addServices(webhook) }
        }
        app.beforeServerStarts {
            try await services.supervisor.prepare()
        }
        return app
    }

    /// Runs corral until SIGTERM or SIGINT. The supervisor is stopped before the server, so that
    /// while it drains the API still answers (GET, DELETE) and refuses new sessions with 503.
    public static func run(configuration: CorralConfiguration, services: CorralServices, logger: Logger) async throws {
        let app = buildApplication(configuration: configuration, services: services, logger: logger, includingSupervisor: false)
        // Stopped in reverse order: the supervisor first (the server still answers while it
        // drains), the webhook last (it still delivers the events of the last ends).
        var ordered: [ServiceGroupConfiguration.ServiceConfiguration] = []
        if let webhook = webhookService(configuration, services, logger) { ordered.append(.init(service: webhook)) }
        ordered += [.init(service: app), .init(service: services.supervisor)]
        let group = ServiceGroup(
            configuration: .init(
                services: ordered,
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        try await group.run()
    }

    private static func webhookService(_ configuration: CorralConfiguration, _ services: CorralServices, _ logger: Logger) -> WebhookService? {
        configuration.eventsWebhookURL.map { WebhookService(url: $0, events: services.supervisor.events, logger: logger) }
    }

    public static func buildRouter(configuration: CorralConfiguration, services: CorralServices) -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.add(middleware: ErrorMiddleware())
        router.get("healthz") { _, _ in JSONBody.response(["status": "ok"]) }
        // The dashboard page holds no data; what it shows comes from /api/*, with the token.
        router.get("/") { _, _ in
            Response(
                status: .ok,
                headers: [
                    .contentType: "text/html; charset=utf-8",
                    .contentSecurityPolicy: "default-src 'self'; style-src 'self' 'unsafe-inline'; script-src 'self' 'unsafe-inline'; img-src 'self' data:",
                ],
                body: .init(byteBuffer: ByteBuffer(string: DashboardPage.html))
            )
        }
        router.get("metrics") { _, _ in
            Response(
                status: .ok,
                headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: services.metricsRegistry.emitToBuffer()))
            )
        }
        let api = router.group("api")
        if let token = configuration.apiToken {
            api.add(middleware: BearerAuthMiddleware(token: token))
        }
        SessionRoutes(supervisor: services.supervisor, store: services.store, maxBodyBytes: maxBodyBytes).register(on: api)
        StreamingRoutes(supervisor: services.supervisor, events: services.supervisor.events).register(on: api)
        return router
    }
}
