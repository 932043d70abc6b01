import CorralPlatform
import Foundation
import Logging
import CorralStore
import CorralConfiguration

/// Templates: each profile with `template` gets one warm template per node, recorded and
/// contained like an idle agent (`start: template`: its own cgroup with the template's limits, a
/// log, a record written before it is spawned), with a control channel that corral forks
/// sessions through. One that crashes, never gets ready, answers garbage or stops answering is
/// ended and started again with backoff; its sessions run on (the kernel re-parents them to
/// corral). What to start, and when, is the `TemplatePlanner`'s.
extension Supervisor {
    /// A profile's template as `GET /api/templates` shows it.
    public struct TemplateStatus: Sendable {
        public let agent: String
        /// `starting`, `ready` or `waiting` (to be started again).
        public let state: String
        public let record: SessionRecord?
        public let forks: Int
        public let forkFailures: Int
        public let restarts: Int
        public let failuresInARow: Int
        public let lastError: String?
        /// How long until the next template starts, while waiting.
        public let retryIn: Duration?
        /// Fork requests admitted and not yet sent.
        public let queued: Int
        public let settings: TemplateSettings
        public let usage: ResourceUsage?
    }

    /// Every template profile's template, by profile name.
    public func templateStatuses() async -> [TemplateStatus] {
        let now = ContinuousClock.now
        let rows = templates.templates.keys.sorted().map { agent -> (String, TemplatePlanner.Template, SessionTable.Entry?) in
            let template = templates.templates[agent]!
            return (agent, template, template.current.flatMap { table.entries[$0] })
        }
        let trees = rows.map { $0.2?.handles.tree }
        let usages = await Blocking.run {
            trees.map { tree in
                tree.map { tree in
                    var usage = tree.usage(in: nil)
                    usage.pssBytes = tree.proportionalMemory(in: nil)
                    return usage
                }
            }
        }
        return zip(rows, usages).map { row, usage in
            let (agent, template, entry) = row
            return TemplateStatus(
                agent: agent, state: template.phase.rawValue, record: entry?.snapshot, forks: template.forks, forkFailures: template.forkFailures,
                restarts: template.restarts, failuresInARow: template.failures, lastError: template.lastError,
                retryIn: template.phase == .waiting ? template.retryAt.map { max(.zero, $0 - now) } : nil,
                queued: template.queue.waiting, settings: template.settings, usage: usage
            )
        }
    }

    // MARK: Keeping one running per profile

    /// Asks the template loop to start templates wherever a profile has none.
    func keepTemplates() {
        guard accepting, !templates.isEmpty else { return }
        templateWakeSink.yield()
    }

    /// Runs each profile's keeper as a child task, one at a time per profile; they end with the
    /// supervisor.
    func templateLoop() async {
        await withDiscardingTaskGroup { group in
            for await _ in templateWakes {
                for agent in templates.beginKeeping() {
                    group.addTask { await self.keepTemplate(agent) }
                }
            }
        }
    }

    private func keepTemplate(_ agent: String) async {
        defer { templates.keepingEnded(agent) }
        while accepting, !Task.isCancelled {
            switch templates.nextStep(agent, now: .now) {
            case .done:
                return
            case .wait(let until):
                do { try await Task.sleep(until: until, clock: .continuous) } catch { return }
            case .start:
                await startTemplate(agent)
            }
        }
    }

    private func startTemplate(_ agent: String) async {
        guard let profile = configuration.agents[agent] else { return }
        let settings = SessionSettings(
            id: SessionID.generate(prefix: "template"), agent: agent, profile: profile, timeout: configuration.maxSessionTimeoutSeconds
        )
        templates.launching(agent, id: settings.id)
        do {
            let template = try await launch(settings, start: .template)
            if (templates.templates[agent]?.starts ?? 0) > 1 { metrics.templateRestarted(agent: agent) }
            logger.about(template.record).info("template started; it warms up", metadata: [LogKey.pid: "\(template.record.pid ?? 0)"])
        } catch {
            let why = "could not be started: \(error.message)"
            if let backoff = templates.launchFailed(agent, id: settings.id, why: why, now: .now) {
                reportTemplateFailure(agent, id: settings.id, record: nil, why: why, backoff: backoff)
            }
        }
    }

    /// Reports a failure of the profile's templates: the next one starts after a pause, and
    /// starts of the profile go cold meanwhile.
    private func reportTemplateFailure(
        _ agent: String, id: SessionID, record: SessionRecord?, why: String, backoff: (failures: Int, delay: Duration)
    ) {
        let (failures, delay) = backoff
        metrics.templateFailed(agent: agent)
        logger.error(
            "the template of agent '\(agent)' failed: \(why); its sessions start cold until another one is ready",
            metadata: [
                LogKey.agent: "\(agent)", LogKey.session: "\(id)", "failures_in_a_row": "\(failures)", "retry_in_ms": "\(delay.milliseconds)",
            ]
        )
        if let record {
            events.publish(.templateFailed(.init(reason: why, failuresInARow: failures, retryIn: delay)), session: record)
        }
    }

    /// corral's end of a new template's channel starts listening; a failure ends the template.
    func startReading(_ channel: TemplateChannel, of entry: SessionTable.Entry) {
        let id = entry.id
        let instance = entry.instance
        let sink = inboxSink
        do {
            try channel.start { failure in sink.yield(.templateFailed(id, instance: instance, failure)) }
        } catch {
            sink.yield(.templateFailed(id, instance: instance, .send(error)))
        }
    }

    /// The template's channel failed (garbage, or closed while it runs). A channel closes when
    /// its template exits, a moment before corral sees the exit: the exit says more, so a closed
    /// channel ends the template only if it still runs a little later.
    func templateChannelFailed(_ id: SessionID, instance: UInt64, _ failure: TemplateChannel.Failure) {
        guard failure == .closed else {
            if let entry = table.resolve(id, instance: instance) { replaceTemplate(entry, why: failure.description) }
            return
        }
        Task {
            try? await Task.sleep(for: .milliseconds(500))
            self.templateChannelClosed(id, instance: instance)
        }
    }

    private func templateChannelClosed(_ id: SessionID, instance: UInt64) {
        guard let entry = table.resolve(id, instance: instance) else { return }
        replaceTemplate(entry, why: TemplateChannel.Failure.closed.description)
    }

    /// The template said `READY=1`: sessions of its profile are forked from now on.
    func templateReady(_ entry: SessionTable.Entry) {
        guard templates.ready(entry.record.agent, id: entry.id) else { return }
        metrics.templateUp(agent: entry.record.agent, true)
        logger.about(entry.record).info("template ready: the profile's sessions are forked from it")
        refillPools()
    }

    /// Called as a template begins to stop: it takes no more forks (requests waiting for it
    /// start cold), and anything but corral's own decision counts as a failure.
    func templateStopping(_ entry: SessionTable.Entry, reason: EndReason) {
        let agent = entry.record.agent
        let startup = entry.profile.template?.startupTimeoutSeconds ?? configuration.startupTimeoutSeconds
        let why =
            entry.handles.templateFailure
            ?? (reason == .startupTimeout ? "did not send READY=1 within \(Self.format(startup)) s (its startup timeout)" : reason.description)
        guard let ending = templates.ending(agent, id: entry.id, failure: TemplatePlanner.isFailure(reason) ? why : nil, now: .now) else { return }
        metrics.templateUp(agent: agent, false)
        for request in ending.waiting {
            forkTurns.removeValue(forKey: request)?.resume(returning: nil)
        }
        if let backoff = ending.backoff {
            reportTemplateFailure(agent, id: entry.id, record: entry.record, why: why, backoff: backoff)
        } else {
            logger.about(entry.record).info("template ending", metadata: [LogKey.reason: "\(reason.name)"])
        }
        keepTemplates()
    }

    /// Ends every template (draining: no session will be forked any more).
    func endTemplates() async {
        let ids = table.templateEntries.map(\.id)
        await withDiscardingTaskGroup { group in
            for id in ids {
                group.addTask { _ = try? await self.end(id, reason: .shutdown) }
            }
        }
    }
}
