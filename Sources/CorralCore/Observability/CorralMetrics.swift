import CoreMetrics
import CorralStore

/// corral's metrics, made through an injected swift-metrics factory (the server passes a
/// Prometheus one; tests and embedders may pass their own). Names follow Prometheus conventions:
/// - `corral_sessions_active{agent,status}` gauge
/// - `corral_sessions_started_total{agent}`, `corral_sessions_ended_total{agent,reason}` counters
/// - `corral_session_start_duration_seconds`, `corral_session_end_duration_seconds` histograms
/// - `corral_session_processes` histogram: processes in a session when its end began
/// - `corral_orphans_killed_total`, `corral_escapes_caught_total`, `corral_spawn_failures_total`,
///   `corral_store_errors_total` counters
/// - prewarming: `corral_session_starts_by_path_total{agent,start=warm|cold}`,
///   `corral_prewarm_failures_total{agent}` counters; `corral_idle_agents{agent,state=loading|ready}`
///   and `corral_idle_agents_memory_bytes{agent}` gauges
/// - templates: `corral_template_up{agent}` gauge (1 while a ready template takes forks);
///   `corral_template_forks_total{agent}`, `corral_template_fork_failures_total{agent}`,
///   `corral_template_restarts_total{agent}`, `corral_template_failures_total{agent}` counters;
///   `corral_template_fork_seconds{agent}` histogram (request sent to the fork checked)
public struct CorralMetrics: Sendable {
    private let factory: any MetricsFactory
    private let spawnFailures: Counter
    private let storeErrors: Counter
    private let startDuration: Timer
    private let endDuration: Timer
    private let orphans: Counter
    private let escapes: Counter
    private let processes: Recorder

    public init(factory: any MetricsFactory) {
        self.factory = factory
        spawnFailures = Counter(label: "corral_spawn_failures_total", factory: factory)
        storeErrors = Counter(label: "corral_store_errors_total", factory: factory)
        startDuration = Timer(label: "corral_session_start_duration_seconds", factory: factory)
        endDuration = Timer(label: "corral_session_end_duration_seconds", factory: factory)
        orphans = Counter(label: "corral_orphans_killed_total", factory: factory)
        escapes = Counter(label: "corral_escapes_caught_total", factory: factory)
        processes = Recorder(label: "corral_session_processes", factory: factory)
    }

    /// Metrics that go nowhere.
    public static var discarding: CorralMetrics { CorralMetrics(factory: NOOPMetricsHandler.instance) }

    func sessionStarted(agent: String, path: StartPath, after duration: Duration) {
        Counter(label: "corral_sessions_started_total", dimensions: [("agent", agent)], factory: factory).increment()
        Counter(label: "corral_session_starts_by_path_total", dimensions: [("agent", agent), ("start", path.rawValue)], factory: factory).increment()
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

    /// Live sessions by agent and status.
    /// A line of the session gauges: active sessions, or idle agents (`loading`/`ready`).
    func count(_ bucket: SessionTable.Bucket, _ count: Int) {
        guard bucket.idle else { return activeSessions(agent: bucket.agent, status: bucket.status, count: count) }
        let state = switch bucket.status {
        case .starting: "loading"
        case .running: "ready"
        case .stopping: "stopping"
        }
        idleAgents(agent: bucket.agent, state: state, count: count)
    }

    func activeSessions(agent: String, status: SessionStatus, count: Int) {
        Gauge(label: "corral_sessions_active", dimensions: [("agent", agent), ("status", status.rawValue)], factory: factory).record(count)
    }

    /// Idle prewarmed agents by agent and state (`loading` until `READY=1`, then `ready`).
    func idleAgents(agent: String, state: String, count: Int) {
        Gauge(label: "corral_idle_agents", dimensions: [("agent", agent), ("state", state)], factory: factory).record(count)
    }

    func idleAgentsMemory(agent: String, bytes: UInt64) {
        Gauge(label: "corral_idle_agents_memory_bytes", dimensions: [("agent", agent)], factory: factory).record(Int64(clamping: bytes))
    }

    /// A prewarmed agent that crashed, never got ready or did not take its session.
    func prewarmFailed(agent: String) {
        Counter(label: "corral_prewarm_failures_total", dimensions: [("agent", agent)], factory: factory).increment()
    }

    /// Whether the profile has a ready template taking forks.
    func templateUp(agent: String, _ up: Bool) {
        Gauge(label: "corral_template_up", dimensions: [("agent", agent)], factory: factory).record(up ? 1 : 0)
    }

    /// A session (or idle agent) was forked, `duration` after its request was sent.
    func templateForked(agent: String, after duration: Duration) {
        Counter(label: "corral_template_forks_total", dimensions: [("agent", agent)], factory: factory).increment()
        Timer(label: "corral_template_fork_seconds", dimensions: [("agent", agent)], factory: factory).recordNanoseconds(duration.nanoseconds)
    }

    /// A fork request failed (refused, garbage, no answer) or found the queue full.
    func templateForkFailed(agent: String) {
        Counter(label: "corral_template_fork_failures_total", dimensions: [("agent", agent)], factory: factory).increment()
    }

    /// A template was started in place of one that ended.
    func templateRestarted(agent: String) {
        Counter(label: "corral_template_restarts_total", dimensions: [("agent", agent)], factory: factory).increment()
    }

    /// A template crashed, never got ready, answered garbage or stopped answering.
    func templateFailed(agent: String) {
        Counter(label: "corral_template_failures_total", dimensions: [("agent", agent)], factory: factory).increment()
    }

    /// How many processes a session had when its end began.
    func processesAtEnd(_ count: Int) { processes.record(count) }
    func orphanKilled() { orphans.increment() }
    func escapesCaught(_ count: Int) { escapes.increment(by: Int64(count)) }
    func spawnFailed() { spawnFailures.increment() }
    func storeFailed() { storeErrors.increment() }
}
