import CorralPlatform
import Foundation
import CorralConfiguration
import CorralStore

/// One warm template per profile with `template`: when to start one, and when again after one
/// failed (it crashed, never got ready, answered garbage or stopped answering: 1 s, 2 s, 4 s …
/// up to a minute, so a broken template never respawns in a tight loop; `READY=1` resets that),
/// which one takes fork requests (only a ready one; starts meanwhile go cold), its fork queue,
/// and what the API and the metrics show of it. A value like `PrewarmPlanner`: events in,
/// decisions out, no processes, tasks or clocks of its own (`TemplatePlannerTests`).
struct TemplatePlanner {
    /// A profile's template as the API shows it.
    enum Phase: String, Sendable {
        /// Spawned (or being spawned), warming up.
        case starting
        /// Said `READY=1`: sessions are forked from it.
        case ready
        /// None runs: the next one starts after the backoff.
        case waiting
    }

    struct Template: Equatable {
        let settings: TemplateSettings
        /// The template running now (being launched, warming up, or ready), by its id.
        var current: SessionID?
        var ready = false
        /// Failures in a row.
        var failures = 0
        var retryAt: ContinuousClock.Instant?
        var lastError: String?
        /// Templates started, the first one included.
        var starts = 0
        var forks = 0
        var forkFailures = 0
        /// A keeper (the task that starts templates) runs for the profile.
        var keeping = false
        var queue: ForkQueue

        var phase: Phase {
            if ready { return .ready }
            return current != nil ? .starting : .waiting
        }

        /// Templates started after the first: each one replaced a template that ended.
        var restarts: Int { max(0, starts - 1) }
    }

    /// What a profile's keeper does next.
    enum Step: Equatable {
        case start
        case wait(until: ContinuousClock.Instant)
        /// A template runs (or is being started): the keeper ends.
        case done
    }

    /// Whether a start may be forked.
    enum Admission: Equatable {
        case admitted
        /// No ready template: the start goes cold.
        case noTemplate
        /// `bound` requests are waiting already: 503.
        case full(bound: Int)
    }

    static let maxBackoff = Duration.seconds(60)

    private(set) var templates: [String: Template] = [:]

    /// Profiles with `template`; none when `forking` is false (no cgroups: every start is cold).
    init(profiles: [String: AgentProfile], forking: Bool) {
        guard forking else { return }
        for (name, profile) in profiles {
            guard let settings = profile.template else { continue }
            templates[name] = Template(settings: settings, queue: ForkQueue(bound: settings.maxQueuedForks))
        }
    }

    var isEmpty: Bool { templates.isEmpty }

    func has(_ agent: String) -> Bool { templates[agent] != nil }

    // MARK: Keeping one running

    /// Profiles whose keeper should begin now (none runs); they are marked as kept.
    mutating func beginKeeping() -> [String] {
        var begun: [String] = []
        for agent in templates.keys.sorted() where templates[agent]?.keeping == false {
            templates[agent]?.keeping = true
            begun.append(agent)
        }
        return begun
    }

    mutating func keepingEnded(_ agent: String) {
        templates[agent]?.keeping = false
    }

    func nextStep(_ agent: String, now: ContinuousClock.Instant) -> Step {
        guard let template = templates[agent], template.current == nil else { return .done }
        if let retryAt = template.retryAt, retryAt > now { return .wait(until: retryAt) }
        return .start
    }

    /// The launch of the template `id` begins: it is the profile's template from now on (an end
    /// while it is launched is its end, `ending`).
    mutating func launching(_ agent: String, id: SessionID) {
        templates[agent]?.current = id
        templates[agent]?.starts += 1
    }

    /// The launch of `id` failed: counted as a failure, unless its end was counted already.
    mutating func launchFailed(_ agent: String, id: SessionID, why: String, now: ContinuousClock.Instant) -> (failures: Int, delay: Duration)? {
        guard templates[agent]?.current == id else { return nil }
        templates[agent]?.current = nil
        return failed(agent, why: why, now: now)
    }

    /// The template `id` said `READY=1`: forks go to it, and the profile's templates work.
    mutating func ready(_ agent: String, id: SessionID) -> Bool {
        guard var template = templates[agent], template.current == id else { return false }
        template.ready = true
        template.failures = 0
        template.retryAt = nil
        template.lastError = nil
        templates[agent] = template
        return true
    }

    /// The template `id` is ending (`failure`: why, unless corral ended it for its own reasons).
    /// Requests waiting for it are returned: they are started cold. Nil if `id` was not the
    /// profile's template.
    mutating func ending(_ agent: String, id: SessionID, failure: String?, now: ContinuousClock.Instant)
        -> (waiting: [UInt64], backoff: (failures: Int, delay: Duration)?)?
    {
        guard var template = templates[agent], template.current == id else { return nil }
        template.current = nil
        template.ready = false
        // The request in flight, if any, gets its answer (a failure) from the template's channel.
        let waiting = template.queue.drain()
        template.queue = ForkQueue(bound: template.settings.maxQueuedForks)
        templates[agent] = template
        let backoff = failure.flatMap { failed(agent, why: $0, now: now) }
        return (waiting, backoff)
    }

    /// The ready template of `agent`, if there is one.
    func readyTemplate(_ agent: String) -> SessionID? {
        guard let template = templates[agent], template.ready else { return nil }
        return template.current
    }

    /// Whether `reason` ending a template is a failure of the profile's templates: anything but
    /// corral's own decision is.
    static func isFailure(_ reason: EndReason) -> Bool {
        switch reason {
        case .shutdown, .replaced, .deleted, .timeout: false
        default: true
        }
    }

    private mutating func failed(_ agent: String, why: String, now: ContinuousClock.Instant) -> (failures: Int, delay: Duration)? {
        guard var template = templates[agent] else { return nil }
        template.failures += 1
        template.lastError = why
        let delay = min(.seconds(1 << min(template.failures - 1, 6)), Self.maxBackoff)
        template.retryAt = now + delay
        templates[agent] = template
        return (template.failures, delay)
    }

    // MARK: Fork requests

    /// Admits the fork request `id` to the profile's ready template.
    mutating func admit(_ agent: String, request id: UInt64) -> Admission {
        guard var template = templates[agent], template.ready else { return .noTemplate }
        guard template.queue.admit(id) else { return .full(bound: template.queue.bound) }
        templates[agent] = template
        return .admitted
    }

    /// The request `id` is prepared: whether it may be sent now.
    mutating func prepared(_ agent: String, request id: UInt64) -> ForkQueue.Turn {
        templates[agent]?.queue.prepared(id) ?? .dropped
    }

    /// The request `id` is done: the request to send next, if any. `forked` counts it.
    mutating func finished(_ agent: String, request id: UInt64, forked: Bool? = nil) -> UInt64? {
        if forked == true { templates[agent]?.forks += 1 }
        if forked == false { templates[agent]?.forkFailures += 1 }
        return templates[agent]?.queue.finished(id)
    }
}
