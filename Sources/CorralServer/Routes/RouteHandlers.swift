import CorralCore
import CorralSecurity
import Logging
import CorralConfiguration

/// The parts whose methods answer the routes, made once per router; each `Route` picks its
/// handler from here.
struct RouteHandlers: Sendable {
    let site: SiteRoutes
    let sessions: SessionRoutes
    let streaming: StreamingRoutes
    let livekit: LiveKitWebhook
    let operators: OperatorRoutes

    init(configuration: CorralConfiguration, services: CorralServices, slots: RequestSlots, logger: Logger) {
        let redactor = Redactor(patterns: configuration.redactPatterns)
        let cluster = services.cluster.map { ClusterRouting(cluster: $0, forwarder: Forwarder(nodeID: configuration.nodeID, credential: $0.credential)) }
        site = SiteRoutes(supervisor: services.supervisor, metricsRegistry: services.metricsRegistry)
        sessions = SessionRoutes(
            supervisor: services.supervisor,
            store: services.store,
            maxBodyBytes: CorralApp.maxBodyBytes,
            startLimiter: StartRateLimiter(perSecond: configuration.sessionStartsPerSecond),
            redactor: redactor,
            cluster: cluster,
            maxSessions: configuration.maxSessions
        )
        streaming = StreamingRoutes(
            supervisor: services.supervisor, events: services.supervisor.events, redactor: redactor, cluster: cluster,
            streams: StreamLimiter(limit: configuration.maxStreamsPerToken)
        )
        operators = OperatorRoutes(workers: services.livekitWorkers, activity: services.activity)
        livekit = LiveKitWebhook(
            configuration: configuration.livekit, supervisor: services.supervisor, audit: services.auditLog, slots: slots, logger: logger,
            replays: WebhookReplayGuard(ledger: services.deliveries, node: configuration.nodeID)
        )
    }
}
