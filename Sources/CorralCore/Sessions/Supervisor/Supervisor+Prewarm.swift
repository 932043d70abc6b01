import CorralPlatform
import Foundation
import Logging
import CorralStore

/// Prewarming: idle agents of profiles with `prewarm: N` are started ahead of time, each in its
/// own session, process group and cgroup like any agent, and say `READY=1` once loaded. A start
/// of such a profile hands a ready one its session over the agent's assignment channel (one JSON
/// line; the agent answers with one line acknowledging it), renames it to the session and spawns
/// a replacement in the background. Idle agents are recorded in the store like sessions (with
/// `start: idle`) so that a restarted corral finds them; their channel does not survive corral,
/// so it replaces them. What to start and which agent takes a session is the `PrewarmPlanner`'s.
extension Supervisor {
    /// One idle agent as `GET /api/prewarm` shows it.
    public struct IdleAgent: Sendable {
        public let record: SessionRecord
        public let ready: Bool
        public let usage: ResourceUsage?
    }

    /// Each prewarmed profile's `prewarm`.
    public var prewarmTargets: [String: Int] { planner.targets }

    /// Idle agents, oldest first, with what they use.
    public func idleAgents() async -> [IdleAgent] {
        let entries = table.idleAgents().filter { !$0.isStopping }.map { ($0.record, $0.lifecycle.status == .running, $0.handles.tree) }
        return await Blocking.run {
            let table = entries.contains { $0.2?.needsProcessTable == true } ? ProcessTable.read() : nil
            return entries.map { IdleAgent(record: $0.0, ready: $0.1, usage: $0.2?.usage(in: table)) }
        }
    }

    /// What idle agents use, by profile, for `corral_idle_agents_memory_bytes`.
    func recordIdleMemory() async {
        var bytes = Dictionary(uniqueKeysWithValues: planner.targets.keys.map { ($0, UInt64(0)) })
        for idle in await idleAgents() {
            bytes[idle.record.agent, default: 0] += idle.usage?.memoryBytes ?? 0
        }
        for (agent, total) in bytes { metrics.idleAgentsMemory(agent: agent, bytes: total) }
    }

    // MARK: Keeping the pools full

    /// Asks the refill loop to start idle agents wherever a profile has fewer than its `prewarm`.
    func refillPools() {
        guard accepting, !planner.isEmpty else { return }
        refillSink.yield()
    }

    /// Runs each profile's refill as a child task, one at a time per profile; they end with the
    /// supervisor.
    func refillLoop() async {
        await withDiscardingTaskGroup { group in
            for await _ in refills {
                for agent in planner.beginRefills() {
                    group.addTask { await self.refill(agent) }
                }
            }
        }
    }

    private func refill(_ agent: String) async {
        defer { planner.refillEnded(agent) }
        while accepting, !Task.isCancelled {
            // A template profile's idle agents are forked from its template: none while it is not ready.
            let canStart = table.hasRoom && (!templates.has(agent) || templates.readyTemplate(agent) != nil)
            let step = planner.nextStep(agent, now: .now, waiting: { id in self.table.entries[id].map { !$0.isStopping } }, hasRoom: canStart)
            switch step {
            case .done:
                return
            case .wait(let until):
                do { try await Task.sleep(until: until, clock: .continuous) } catch { return }
            case .start:
                await startIdleAgent(agent)
            }
        }
    }

    private func startIdleAgent(_ agent: String) async {
        guard let profile = configuration.agents[agent] else { return }
        let settings = SessionSettings(
            id: SessionID.generate(prefix: "idle"), agent: agent, profile: profile, timeout: configuration.maxSessionTimeoutSeconds
        )
        var request: UInt64?
        if templates.has(agent) {
            lastForkRequest += 1
            guard templates.admit(agent, request: lastForkRequest) == .admitted else {
                // The template is gone, or busy with starts: the next look is a moment later.
                try? await Task.sleep(for: .milliseconds(200))
                return
            }
            request = lastForkRequest
        }
        do {
            let idle = try await launch(settings, start: .idle, forking: request)
            planner.started(idle.id, agent: agent)
            logger.about(idle.record).info(
                request == nil ? "prewarmed agent started" : "prewarmed agent forked from the template", metadata: [LogKey.pid: "\(idle.record.pid ?? 0)"]
            )
        } catch {
            // Its template went away meanwhile: not the idle agents' failure.
            if templates.has(agent), templates.readyTemplate(agent) == nil { return }
            prewarmFailed(agent, idleID: settings.id, record: nil, why: error.message)
        }
    }

    /// Counts a failure of the profile's idle agents, reports it and backs off.
    private func prewarmFailed(_ agent: String, idleID: SessionID, record: SessionRecord?, why: String) {
        guard let (failures, delay) = planner.failed(agent, now: .now) else { return }
        metrics.prewarmFailed(agent: agent)
        logger.warning(
            "a prewarmed agent failed; the next one starts after a pause",
            metadata: [
                LogKey.agent: "\(agent)", LogKey.session: "\(idleID)", LogKey.reason: "\(why)",
                "failures_in_a_row": "\(failures)", "retry_in_ms": "\(delay.milliseconds)",
            ]
        )
        if let record {
            events.publish(.prewarmFailed(.init(reason: why, failuresInARow: failures, retryIn: delay)), session: record)
        }
    }

    /// An idle agent said `READY=1`: it can be handed a session, and its profile's agents work.
    func idleAgentReady(_ idle: SessionTable.Entry) {
        logger.about(idle.record).info("prewarmed agent ready")
        planner.ready(idle.record.agent)
    }

    /// Called as an idle agent begins to stop: anything but corral's own decision is a failure,
    /// counted now (not once it is gone) so that the next spawn already waits.
    func idleAgentStopping(_ idle: SessionTable.Entry, reason: EndReason) {
        guard PrewarmPlanner.isFailure(reason) else { return }
        prewarmFailed(idle.record.agent, idleID: idle.id, record: idle.record, why: reason.description)
    }

    /// Ends every idle agent (draining: they would never end by themselves).
    func endIdleAgents() async {
        let idle = table.idleAgents().map(\.id)
        await withDiscardingTaskGroup { group in
            for id in idle {
                group.addTask { _ = try? await self.end(id, reason: .shutdown) }
            }
        }
    }
}
