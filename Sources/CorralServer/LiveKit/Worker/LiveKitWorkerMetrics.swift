import CoreMetrics

/// The LiveKit workers' metrics: `corral_livekit_worker_connected{agent_name}` (1 while
/// registered), `corral_livekit_jobs_offered_total`, `_accepted_total`, `_declined_total`,
/// `_failed_total{agent_name}`, `corral_livekit_job_start_seconds{agent_name}` (offer to
/// `JS_RUNNING`) and `corral_livekit_worker_reconnects_total{agent_name}`.
struct LiveKitWorkerMetrics: Sendable {
    let factory: any MetricsFactory

    func connected(agentName: String, _ connected: Bool) {
        Gauge(label: "corral_livekit_worker_connected", dimensions: [("agent_name", agentName)], factory: factory).record(connected ? 1 : 0)
    }

    func offered(agentName: String) { count("corral_livekit_jobs_offered_total", agentName) }
    func accepted(agentName: String) { count("corral_livekit_jobs_accepted_total", agentName) }
    func declined(agentName: String) { count("corral_livekit_jobs_declined_total", agentName) }
    func failed(agentName: String) { count("corral_livekit_jobs_failed_total", agentName) }
    func reconnect(agentName: String) { count("corral_livekit_worker_reconnects_total", agentName) }

    func jobRunning(agentName: String, after duration: Duration) {
        Timer(label: "corral_livekit_job_start_seconds", dimensions: [("agent_name", agentName)], factory: factory).recordNanoseconds(
            duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000
        )
    }

    private func count(_ label: String, _ agentName: String) {
        Counter(label: label, dimensions: [("agent_name", agentName)], factory: factory).increment()
    }
}
