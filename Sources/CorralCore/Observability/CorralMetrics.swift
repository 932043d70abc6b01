import CoreMetrics

/// corral's metrics, made through an injected swift-metrics factory (the server passes a
/// Prometheus one; tests and embedders may pass their own). Names follow Prometheus conventions.
public struct CorralMetrics: Sendable {
    private let factory: any MetricsFactory
    private let active: Gauge
    private let spawnFailures: Counter
    private let storeErrors: Counter
    private let startDuration: Timer
    private let endDuration: Timer

    public init(factory: any MetricsFactory) {
        self.factory = factory
        active = Gauge(label: "corral_sessions_active", factory: factory)
        spawnFailures = Counter(label: "corral_spawn_failures_total", factory: factory)
        storeErrors = Counter(label: "corral_store_errors_total", factory: factory)
        startDuration = Timer(label: "corral_session_start_duration_seconds", factory: factory)
        endDuration = Timer(label: "corral_session_end_duration_seconds", factory: factory)
    }

    /// Metrics that go nowhere.
    public static var discarding: CorralMetrics { CorralMetrics(factory: NOOPMetricsHandler.instance) }

    func sessionStarted(agent: String, after duration: Duration) {
        Counter(label: "corral_sessions_started_total", dimensions: [("agent", agent)], factory: factory).increment()
        startDuration.recordNanoseconds(duration.nanoseconds)
    }

    func sessionEnded(agent: String, reason: EndReason, after duration: Duration) {
        Counter(
            label: "corral_sessions_ended_total",
            dimensions: [("agent", agent), ("reason", reason.name)],
            factory: factory
        ).increment()
        endDuration.recordNanoseconds(duration.nanoseconds)
    }

    func activeSessions(_ count: Int) { active.record(count) }
    func spawnFailed() { spawnFailures.increment() }
    func storeFailed() { storeErrors.increment() }
}

extension Duration {
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }

    var milliseconds: Int64 { nanoseconds / 1_000_000 }
}
