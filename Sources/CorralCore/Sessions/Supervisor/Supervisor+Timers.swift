import CorralPlatform
import Foundation

/// Session deadlines and startup timeouts: kept in one `SessionTimers` schedule, with one task
/// asleep until the earliest. Setting a timer earlier than that wakes a new task in its place.
extension Supervisor {
    /// The task asleep until `at`, when the earliest timer is due.
    struct TimerWake {
        let task: Task<Void, Never>
        let at: ContinuousClock.Instant
    }

    func setTimer(_ kind: SessionTimers.Kind, for entry: SessionTable.Entry, at date: Date) {
        let instant = ContinuousClock.now + .seconds(clamping: date.timeIntervalSinceNow)
        timers.schedule(SessionTimers.Key(id: entry.id, instance: entry.instance, kind: kind), at: instant)
        armTimers()
    }

    func cancelTimer(_ kind: SessionTimers.Kind, for entry: SessionTable.Entry) {
        timers.cancel(SessionTimers.Key(id: entry.id, instance: entry.instance, kind: kind))
    }

    func cancelTimers(_ id: SessionID, instance: UInt64) {
        timers.cancelAll(id: id, instance: instance)
    }

    /// Makes sure a task wakes for the earliest timer. A cancelled timer is left to its wake-up,
    /// which then finds nothing due and sleeps on until the next.
    private func armTimers() {
        guard let next = timers.earliest() else { return }
        if let wake = timerWake, wake.at <= next { return }
        timerWake?.task.cancel()
        timerWake = TimerWake(
            task: Task.detached { [weak self] in
                do { try await Task.sleep(until: next, clock: .continuous) } catch { return }
                await self?.timersDue(wokenFor: next)
            },
            at: next
        )
    }

    private func timersDue(wokenFor instant: ContinuousClock.Instant) {
        // A wake-up that was replaced meanwhile (by an earlier timer) leaves the schedule alone.
        guard timerWake?.at == instant else { return }
        timerWake = nil
        for key in timers.due(at: .now) {
            switch key.kind {
            case .deadline: deliver(.deadlineReached, to: key.id, instance: key.instance)
            case .startup: deliver(.startupTimedOut, to: key.id, instance: key.instance)
            }
        }
        armTimers()
    }
}
