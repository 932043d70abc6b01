import CorralPlatform
import Foundation
import Logging

/// A start of a template profile that finds no ready idle agent, while one is being prepared
/// (forked and running its `setup()`, not yet `READY=1`), waits for that one rather than forking
/// its own, as LiveKit's worker waits for its next warmed process. The agent being prepared has
/// already passed the template's queue and its cgroup placement, which a new fork would still go
/// through (behind it, in the same queue), and it needs only the rest of its setup, which a new
/// fork would run in full beside it on the same cores. At most one start waits per agent being
/// prepared; the others fork at once. The wait ends when any idle agent of the profile gets
/// ready, stops or goes, or after the template's `fork_timeout_seconds`: then the start takes a
/// ready one if it can, and forks otherwise.
extension Supervisor {
    /// Waits for an idle agent of the settings' profile being prepared, if there is one no other
    /// start waits for. False when the start should not wait (fork now).
    func waitForIdleAgent(_ settings: SessionSettings, until deadline: ContinuousClock.Instant) async -> Bool {
        let agent = settings.agent
        guard accepting, templates.has(agent), ContinuousClock.now < deadline else { return false }
        let preparing = table.idleAgents(of: agent).count { !$0.isStopping && $0.lifecycle.status == .starting }
        guard (idleWaiters[agent]?.count ?? 0) < preparing else { return false }
        lastIdleWaiter += 1
        let waiter = lastIdleWaiter
        logger.info(
            "no idle agent is ready: the session waits for the one being prepared",
            metadata: [LogKey.agent: "\(agent)", LogKey.session: "\(settings.id)"]
        )
        let timer = Task { [weak self] in
            try? await Task.sleep(until: deadline, clock: .continuous)
            await self?.wakeIdleWaiter(agent, waiter)
        }
        await withCheckedContinuation { idleWaiters[agent, default: [:]][waiter] = $0 }
        timer.cancel()
        return true
    }

    /// An idle agent of `agent` got ready, began to stop or left the table: every start waiting
    /// looks again (the first takes a ready one; the others wait again or fork).
    func wakeIdleWaiters(_ agent: String) {
        guard let waiting = idleWaiters.removeValue(forKey: agent) else { return }
        for continuation in waiting.values { continuation.resume() }
    }

    private func wakeIdleWaiter(_ agent: String, _ waiter: UInt64) {
        idleWaiters[agent]?.removeValue(forKey: waiter)?.resume()
        if idleWaiters[agent]?.isEmpty == true { idleWaiters[agent] = nil }
    }
}
