import CorralCore
import CorralPlatform
import Logging
import ServiceLifecycle
import CorralConfiguration

/// Every LiveKit agent worker of this corral, one per profile with `livekit_worker`, run
/// together as one service. It is stopped after the supervisor: while corral drains or ends
/// its sessions the workers still report their jobs' ends (and `WS_FULL`), then close.
public final class LiveKitWorkers: Service {
    let workers: [LiveKitWorker]

    init(workers: [LiveKitWorker]) {
        self.workers = workers
    }

    /// The workers of `configuration`'s profiles; nil if none is a worker.
    static func make(
        configuration: CorralConfiguration, supervisor: Supervisor, metrics: LiveKitWorkerMetrics, logger: Logger
    ) throws(CorralError) -> LiveKitWorkers? {
        guard let livekit = configuration.livekit else { return nil }
        var workers: [LiveKitWorker] = []
        for name in configuration.agents.keys.sorted() {
            guard let settings = configuration.agents[name]?.livekitWorker else { continue }
            workers.append(
                try LiveKitWorker.make(profile: name, settings: settings, livekit: livekit, supervisor: supervisor, metrics: metrics, logger: logger)
            )
        }
        return workers.isEmpty ? nil : LiveKitWorkers(workers: workers)
    }

    public func run() async throws {
        await withDiscardingTaskGroup { group in
            for worker in workers {
                group.addTask { await worker.run() }
            }
        }
    }

    /// What each worker shows (`/api/livekit/workers`, the dashboard).
    var snapshots: [LiveKitWorker.Snapshot] {
        get async {
            var snapshots: [LiveKitWorker.Snapshot] = []
            for worker in workers { snapshots.append(await worker.snapshot) }
            return snapshots
        }
    }
}
