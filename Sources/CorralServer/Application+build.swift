import CorralCore
import CorralPlatform
import CorralSecurity
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOSSL
import Prometheus
import RedisClient
import ServiceLifecycle
import CorralStore
import CorralConfiguration

/// The parts of a running corral that a caller (the `serve` command, a test) may want to reach.
public struct CorralServices: Sendable {
    public let supervisor: Supervisor
    public let store: any SessionStore
    /// The ids of webhook deliveries acted on, kept in the same store.
    public let deliveries: any DeliveryLedger
    public let dataDirectory: DataDirectory
    public let containment: any Containment
    public let metricsRegistry: PrometheusCollectorRegistry
    public let auditLog: AuditLog
    /// With a Redis store: this node's place among the others.
    public let cluster: Cluster?
    /// The LiveKit agent workers (profiles with `livekit_worker`), if any.
    public let livekitWorkers: LiveKitWorkers?
    /// The last hour's activity, for the dashboard.
    public let activity: ActivityRecorder
}

public enum CorralApp {
    /// Request bodies above this size are refused with 413.
    public static let maxBodyBytes = 64 * 1024

    /// Opens the data directory and the store and builds the supervisor.
    public static func makeServices(configuration: CorralConfiguration, logger: Logger) throws(CorralError) -> CorralServices {
        let dataDirectory = try DataDirectory(path: configuration.dataDirectory)
        let store: any SessionStore & DeliveryLedger
        var redis: RedisStore?
        switch configuration.store {
        case .memory: store = MemoryStore()
        case .sqlite:
            do {
                store = try SQLiteStore(path: configuration.resolvedStorePath!)
            } catch {
                throw CorralError(error.code, "store: \(error.message)", underlying: error.underlying)
            }
        case .redis(let url):
            let client: RedisClient
            do {
                client = try RedisClient(url)
            } catch {
                throw CorralError(.configuration, "store: \(error.message)")
            }
            let secret = try ClusterSecret.resolve(configured: configuration.clusterSecret, dataDirectory: dataDirectory)
            if case .generated(let path) = secret.origin {
                logger.notice(
                    "no cluster_secret is set: this node signs its Redis records with a secret of its own; to share the store with other nodes, \(ClusterSecret.keyHint)",
                    metadata: ["path": "\(path)"]
                )
            }
            redis = RedisStore(client: client, secret: secret, node: configuration.nodeID, logger: logger)
            store = redis!
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
            credentials: configuration.livekit.map { livekit in
                let credentials = LiveKitCredentials(configuration: livekit)
                return { record, profile in credentials.environment(for: record, profile: profile) }
            },
            logger: logger
        )
        return CorralServices(
            supervisor: supervisor,
            store: store,
            deliveries: store,
            dataDirectory: dataDirectory,
            containment: containment,
            metricsRegistry: registry,
            auditLog: try AuditLog(path: configuration.resolvedAuditLogPath, maxBytes: configuration.auditLogMaxBytes, logger: logger),
            cluster: redis.map { Cluster(configuration: configuration, store: $0, supervisor: supervisor, instanceID: dataDirectory.instanceID, logger: logger) },
            livekitWorkers: try LiveKitWorkers.make(
                configuration: configuration, supervisor: supervisor, metrics: LiveKitWorkerMetrics(factory: factory), logger: logger
            ),
            activity: ActivityRecorder(supervisor: supervisor)
        )
    }

    /// The whole HTTP application: routes, auth, errors, and the supervisor as a service that
    /// starts before the server listens and ends every session when it stops. With
    /// `includingSupervisor: false` the caller runs the supervisor itself (see `run`).
    public static func buildApplication(
        configuration: CorralConfiguration,
        services: CorralServices,
        logger: Logger,
        includingSupervisor: Bool = true,
        onServing: @escaping @Sendable (_ port: Int?) async -> Void = { _ in }
    ) throws(CorralError) -> some ApplicationProtocol {
        let router = buildRouter(configuration: configuration, services: services, logger: logger)
        let connections = ConnectionRegistry()
        var app = Application(
            router: router,
            server: try serverBuilder(configuration, connections: connections),
            configuration: .init(
                address: .hostname(configuration.listen.host, port: configuration.listen.port),
                serverName: "corral",
                availableConnectionsDelegate: ConnectionCap(limit: configuration.maxConnections, registry: connections, logger: logger)
            ),
            onServerRunning: { channel in
                await services.cluster?.serverStarted(port: channel.localAddress?.port)
                await onServing(channel.localAddress?.port)
            },
            logger: logger
        )
        if includingSupervisor {
            app.addServices(services.supervisor)
            if let webhook = webhookService(configuration, services, logger) { app.addServices(webhook) }
            if let cluster = services.cluster { app.addServices(cluster) }
            if let workers = services.livekitWorkers { app.addServices(workers) }
            app.addServices(services.activity)
        }
        app.beforeServerStarts {
            try await services.supervisor.prepare()
        }
        return app
    }

    /// How long the server may take to stop once the supervisor has: responses still being
    /// written then (to clients that stopped reading) are cut off.
    static let serverShutdownLimit = Duration.seconds(5)

    /// Runs corral until SIGTERM or SIGINT. The supervisor is stopped before the server, so that
    /// while it drains the API still answers (GET, DELETE) and refuses new sessions with 503.
    /// `manager` is what corral's own environment says of the service manager running it.
    public static func run(
        configuration: CorralConfiguration,
        services: CorralServices,
        manager: ServiceManager = ServiceManager(environment: [:]),
        logger: Logger
    ) async throws {
        let reporter = manager.notifySocket.map { _ in
            ServiceManagerReporter(manager: manager, supervisor: services.supervisor, host: configuration.listen.host, logger: logger)
        }
        let app = try buildApplication(
            configuration: configuration, services: services, logger: logger, includingSupervisor: false,
            onServing: { port in await reporter?.serving(port: port) }
        )
        // Stopped in reverse order: the stop announced first, then the supervisor (the server
        // still answers while it drains, and LiveKit workers still report the jobs that end), the
        // webhook late (it still delivers the events of the last ends), and the service manager's
        // heartbeat last (its watchdog is fed all through a drain).
        var ordered: [ServiceGroupConfiguration.ServiceConfiguration] = []
        if let reporter { ordered.append(.init(service: reporter.heartbeat)) }
        if let webhook = webhookService(configuration, services, logger) { ordered.append(.init(service: webhook)) }
        if let cluster = services.cluster { ordered.append(.init(service: cluster)) }
        if let workers = services.livekitWorkers { ordered.append(.init(service: workers)) }
        ordered.append(.init(service: services.activity))
        ordered += [.init(service: BoundedShutdown(service: app, limit: serverShutdownLimit, logger: logger)), .init(service: services.supervisor)]
        if let reporter { ordered.append(.init(service: reporter.stopAnnouncement)) }
        let group = ServiceGroup(
            configuration: .init(
                services: ordered,
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        defer { services.auditLog.flushRefusals() }
        try await group.run()
    }

    private static func webhookService(_ configuration: CorralConfiguration, _ services: CorralServices, _ logger: Logger) -> WebhookService? {
        configuration.eventsWebhookURL.map { WebhookService(url: $0, events: services.supervisor.events, logger: logger) }
    }

    /// HTTP/1.1, with TLS when a certificate is configured; idle connections (slow clients) are
    /// closed after `idle_timeout_seconds`, a request must arrive whole within
    /// `request_timeout_seconds` (slower ones), and headers are bounded.
    static func serverBuilder(_ configuration: CorralConfiguration, connections: ConnectionRegistry = ConnectionRegistry()) throws(CorralError) -> HTTPServerBuilder {
        let requestTimeout = Duration.milliseconds(Int64((configuration.requestTimeoutSeconds * 1000).rounded(.up)))
        let channel = HTTP1Channel.Configuration(
            // The activity handler before the reception's: it sees the bytes' arrival, and every
            // answer, the reception's own (408, 431) too.
            additionalChannelHandlers: [ConnectionActivityHandler(registry: connections), RequestReceptionHandler(timeout: requestTimeout)],
            idleTimeout: .seconds(Int64(configuration.idleTimeoutSeconds.rounded(.up))),
            httpDecoderConfiguration: .init(maxHeaderFieldSize: 16 * 1024, maxHeaderListSize: 32 * 1024, maxHeaderFieldCount: 100)
        )
        let http = HTTPServerBuilder { responder in CorralHTTP1Channel(base: HTTP1Channel(responder: responder, configuration: channel)) }
        guard let certificate = configuration.tlsCertificateFile, let key = configuration.tlsKeyFile else { return http }
        do {
            var tls = TLSConfiguration.makeServerConfiguration(
                certificateChain: try NIOSSLCertificate.fromPEMFile(certificate).map { .certificate($0) },
                privateKey: .privateKey(try NIOSSLPrivateKey(file: key, format: .pem))
            )
            // A close waits this long for the client's close_notify (5 s by default), its
            // connection counted open meanwhile: one closed for room past max_connections would
            // hold the next newcomer that long. HTTP/1.1's own framing says where answers end.
            tls.shutdownTimeout = .milliseconds(500)
            return try .tls(http, tlsConfiguration: tls)
        } catch {
            throw CorralError(.configuration, "cannot set up TLS with \(certificate) and \(key): \(error)")
        }
    }

    public static func buildRouter(
        configuration: CorralConfiguration,
        services: CorralServices,
        logger: Logger = Logger(label: "corral")
    ) -> Router<CorralRequestContext> {
        let router = Router(context: CorralRequestContext.self)
        let slots = RequestSlots(limit: configuration.maxConcurrentRequests)
        let guards = RouteGuards(configuration: configuration, audit: services.auditLog, slots: slots, cluster: services.cluster?.credential)
        // Outermost: every answer, errors included, says no page may frame it.
        router.add(middleware: FrameGuard())
        router.add(middleware: ErrorMiddleware(routes: Routes.all))
        router.register(Routes.all, handlers: RouteHandlers(configuration: configuration, services: services, slots: slots, logger: logger), guards: guards)
        // A router's middleware applies to the routes registered after it and to its own "no
        // route": a path corral does not have (404, or 405 with its methods) is answered only
        // for corral's own names too.
        if let hostCheck = guards.hostCheck { router.add(middleware: hostCheck) }
        return router
    }
}
