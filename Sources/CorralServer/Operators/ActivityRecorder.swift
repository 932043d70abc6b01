import CorralCore
import Foundation
import ServiceLifecycle
import Synchronization

/// Samples active sessions and jobs every few seconds into an `ActivityHistory`, for the
/// dashboard's chart of the last hour.
public final class ActivityRecorder: Service {
    let supervisor: Supervisor
    let interval: Duration
    private let history = Mutex(ActivityHistory())

    init(supervisor: Supervisor, interval: Duration = .seconds(10)) {
        self.supervisor = supervisor
        self.interval = interval
    }

    public func run() async throws {
        while !Task.isCancelled {
            await sample(at: Date())
            do { try await cancelWhenGracefulShutdown { try await Task.sleep(for: self.interval) } } catch { return }
        }
    }

    func sample(at now: Date) async {
        let (sessions, jobs) = await supervisor.activity
        history.withLock { $0.record(at: now, sessions: sessions, jobs: jobs) }
    }

    func lastHour(at now: Date = Date()) -> [(start: Date, counts: ActivityHistory.Minute?)] {
        history.withLock { $0.lastHour(at: now) }
    }
}
