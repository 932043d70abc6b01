import Foundation
import Logging

/// Prewarming: idle agents of profiles with `prewarm: N` are started ahead of time, each in its
/// own session, process group and cgroup like any agent, and say `READY=1` once loaded. A start
/// of such a profile hands a ready one its session over the agent's assignment channel (one JSON
/// line; the agent answers with one line acknowledging it), renames it to the session and spawns
/// a replacement in the background. Idle agents are recorded in the store like sessions (with
/// `start: idle`) so that a restarted corral finds them; their channel does not survive corral,
/// so it replaces them.
extension Supervisor {
    /// One idle agent as `GET /api/prewarm` shows it.
    public struct IdleAgent: Sendable {
        public let record: SessionRecord
        public let ready: Bool
        public let usage: ResourceUsage?
    }

    /// Each prewarmed profile's `prewarm`.
    public var prewarmTargets: [String: Int] { pools.mapValues(\.target) }

    /// Idle agents, oldest first, with what they use.
    public func idleAgents() async -> [IdleAgent] {
        let entries = inOrder(sessions.values.filter { $0.isIdle && !$0.lifecycle.isStopping })
            .map { ($0.record, $0.lifecycle.status == .running, $0.tree) }
        return await Blocking.run {
            let table = entries.contains { $0.2?.needsProcessTable == true } ? ProcessTable.read() : nil
            return entries.map { IdleAgent(record: $0.0, ready: $0.1, usage: $0.2?.usage(in: table)) }
        }
    }

    /// What idle agents use, by profile, for `corral_idle_agents_memory_bytes`.
    func recordIdleMemory() async {
        var bytes = Dictionary(uniqueKeysWithValues: pools.keys.map { ($0, UInt64(0)) })
        for idle in await idleAgents() {
            bytes[idle.record.agent, default: 0] += idle.usage?.memoryBytes ?? 0
        }
        for (agent, total) in bytes { metrics.idleAgentsMemory(agent: agent, bytes: total) }
    }

    // MARK: Keeping the pools full

    /// Starts idle agents wherever a profile has fewer than its `prewarm`, within `max_sessions`.
    func refillPools() {
        guard accepting else { return }
        for agent in pools.keys where pools[agent]?.refill == nil {
            pools[agent]?.refill = Task { await self.refill(agent) }
        }
    }

    private func refill(_ agent: String) async {
        defer { pools[agent]?.refill = nil }
        while accepting, !Task.isCancelled, let pool = pools[agent] {
            if let retryAt = pool.retryAt, retryAt > .now {
                do { try await Task.sleep(until: retryAt, clock: .continuous) } catch { return }
                continue
            }
            pools[agent]?.members.removeAll { sessions[$0] == nil }
            let waiting = pools[agent]?.members.count { sessions[$0].map { !$0.lifecycle.isStopping } ?? false } ?? 0
            guard waiting < pool.target, sessions.count < configuration.maxSessions else { return }
            await startIdleAgent(agent)
        }
    }

    private func startIdleAgent(_ agent: String) async {
        guard let profile = configuration.agents[agent] else { return }
        let settings = SessionSettings(
            id: SessionID.generate(prefix: "idle"), agent: agent, profile: profile, timeout: configuration.maxSessionTimeoutSeconds
        )
        do {
            let idle = try await launch(settings, start: .idle)
            pools[agent]?.members.append(idle.record.id)
            logger.about(idle.record).info("prewarmed agent started", metadata: [LogKey.pid: "\(idle.record.pid ?? 0)"])
        } catch {
            prewarmFailed(agent, idleID: settings.id, record: nil, why: error.message)
        }
    }

    /// Counts a failure of the profile's idle agents, reports it and backs off.
    private func prewarmFailed(_ agent: String, idleID: SessionID, record: SessionRecord?, why: String) {
        guard let delay = pools[agent]?.failed() else { return }
        let failures = pools[agent]?.failures ?? 0
        metrics.prewarmFailed(agent: agent)
        logger.warning(
            "a prewarmed agent failed; the next one starts after a pause",
            metadata: [
                LogKey.agent: "\(agent)", LogKey.session: "\(idleID)", LogKey.reason: "\(why)",
                "failures_in_a_row": "\(failures)", "retry_in_ms": "\(delay.milliseconds)",
            ]
        )
        if let record {
            events.publish(
                .prewarmFailed, session: record,
                details: ["reason": .string(why), "failures_in_a_row": .number(Double(failures)), "retry_in_ms": .number(Double(delay.milliseconds))]
            )
        }
    }

    /// An idle agent said `READY=1`: it can be handed a session, and its profile's agents work.
    func idleAgentReady(_ idle: LiveSession) {
        logger.about(idle.record).info("prewarmed agent ready")
        pools[idle.record.agent]?.succeeded()
    }

    /// Called as an idle agent begins to stop: anything but corral's own decision is a failure,
    /// counted now (not once it is gone) so that the next spawn already waits. A failure to
    /// record it is reported where the launch fails.
    func idleAgentStopping(_ idle: LiveSession, reason: EndReason) {
        switch reason {
        case .shutdown, .replaced, .deleted, .timeout, .failedToStart:
            break
        default:
            prewarmFailed(idle.record.agent, idleID: idle.record.id, record: idle.record, why: reason.description)
        }
    }

    /// Ends every idle agent (draining: they would never end by themselves).
    func endIdleAgents() async {
        for pool in pools.values { pool.refill?.cancel() }
        let idle = sessions.values.filter(\.isIdle).map(\.record.id)
        await withDiscardingTaskGroup { group in
            for id in idle {
                group.addTask { _ = try? await self.end(id, reason: .shutdown) }
            }
        }
    }

    // MARK: Handing out a session

    /// Hands the session to a ready idle agent of its profile; nil when none takes it (the
    /// caller starts it cold). An agent that does not acknowledge in time is ended and the next
    /// one is tried.
    func startWarm(_ settings: SessionSettings) async throws(CorralError) -> SessionRecord? {
        reserved[settings.id] = (settings.agent, settings.livekitRoom)
        defer { reserved[settings.id] = nil }
        while let idle = takeReadyIdleAgent(settings.agent), let channel = idle.assignment {
            var record = idle.record
            let now = Date()
            record.id = settings.id
            record.processTag = idle.record.tag
            record.start = .warm
            record.status = .running
            record.createdAt = now
            record.readyAt = now
            record.expiresAt = now.addingTimeInterval(settings.timeout)
            record.metadata = settings.metadata
            record.livekitRoom = settings.livekitRoom
            record.livekitIdentity = settings.livekitIdentity

            idle.assigning = true
            var refusal: String?
            do {
                let reply = try await channel.exchange(
                    assignment(for: record, profile: settings.profile), timeout: .seconds(configuration.assignTimeoutSeconds), monitor: monitor
                )
                if !Self.acknowledges(reply, session: settings.id) {
                    refusal = "its answer was not {\"type\":\"ack\",\"session_id\":\"\(settings.id)\"}"
                }
            } catch {
                refusal = error.description
            }
            idle.assigning = false
            // It may have died while corral waited; its channel is then corral's to close.
            guard sessions[idle.record.id] === idle, !idle.lifecycle.isStopping else {
                if sessions[idle.record.id] !== idle { channel.close() }
                continue
            }
            guard accepting else {
                // corral began to stop while the agent answered: the session never existed.
                perform(idle.lifecycle.handle(.endRequested(.shutdown)), for: idle)
                throw CorralError(.unavailable, "corral is shutting down; no new sessions are accepted")
            }
            if let refusal {
                logger.about(idle.record).warning(
                    "a prewarmed agent did not take its session; it is ended and the session goes to another agent",
                    metadata: [LogKey.reason: "\(refusal)", "session_id": "\(settings.id)"]
                )
                perform(idle.lifecycle.handle(.endRequested(.assignFailed)), for: idle)
                continue
            }
            if let record = try await handOver(idle, to: record) { return record }
        }
        return nil
    }

    /// The oldest ready idle agent of `agent`, taken out of its pool.
    private func takeReadyIdleAgent(_ agent: String) -> LiveSession? {
        guard let members = pools[agent]?.members else { return nil }
        for (index, id) in members.enumerated() {
            guard let idle = sessions[id], idle.lifecycle.status == .running, !idle.assigning, idle.assignment != nil else { continue }
            pools[agent]?.members.remove(at: index)
            return idle
        }
        return nil
    }

    /// The acknowledged idle agent becomes the session: first in the store (one atomic change
    /// from its idle record to the session's), then, with no suspension in between, in memory
    /// (its exit watch and timers still find it through `aliases`). Until the store has answered
    /// it stays the idle agent, so whatever happens to it meanwhile is written under its idle
    /// id, never under an id another node may hold. Returns nil if it ended meanwhile.
    private func handOver(_ idle: LiveSession, to record: SessionRecord) async throws(CorralError) -> SessionRecord? {
        let idleID = idle.record.id
        let replaced = writes.enqueue(for: [idleID, record.id]) { [store] () -> CorralError? in
            do throws(CorralError) {
                try await store.replace(idleID, with: record)
                return nil
            } catch {
                return error
            }
        }
        idle.lastWrite = Task { await replaced.value == nil }
        if let error = await replaced.value {
            metrics.storeFailed()
            if error.code != .conflict { storeReachable = false }
            // It was told of a session it cannot have.
            let result = await endAndWait(idle, reason: .failedToStart)
            if error.code == .conflict { throw Self.idInUse(record.id) }
            throw CorralError(.unavailable, "the session could not be recorded, so its agent was stopped (\(result.outcome.rawValue)): \(error.message)")
        }
        guard sessions[idleID] === idle, !idle.lifecycle.isStopping else {
            // It ended while the store answered: the record just written is this node's to undo.
            _ = await enqueueDelete(record.id).value
            return nil
        }
        rename(idle, to: record)
        idle.tree?.recognise(record.id)
        idle.cancelTimers()
        perform([.startDeadlineTimer], for: idle)
        // The channel has served its purpose.
        idle.assignment?.close()
        idle.assignment = nil
        if let moved = dataDirectory.moveLog(idle.record.logPath, to: record.id) {
            idle.record.logPath = moved
            enqueueWrite(idle)
        }
        logger.about(idle.record).info("prewarmed agent took the session", metadata: ["idle_id": "\(idleID)", LogKey.pid: "\(record.pid ?? 0)"])
        announceStarted(idle)
        events.publish(.ready, session: idle.record)
        refillPools()
        return idle.record
    }

    /// Moves a live session to `record`'s id (and record), keeping its old id as an alias.
    private func rename(_ session: LiveSession, to record: SessionRecord) {
        let old = session.record.id
        count(session, as: nil)
        sessions[old] = nil
        sessions[record.id] = session
        aliases[old] = record.id
        session.formerIDs.append(old)
        if let pid = record.pid { sessionsByLeader[pid] = record.id }
        session.record = record
        count(session, as: session.lifecycle.status)
    }

    /// The one line an idle agent is handed: the session and what a cold start would have put
    /// in its environment.
    private func assignment(for record: SessionRecord, profile: AgentProfile) -> Data {
        var environment: [String: JSONValue] = [
            "CORRAL_SESSION_ID": .string(record.id.rawValue),
            "CORRAL_AGENT": .string(record.agent),
            "CORRAL_METADATA": .string(String(decoding: (try? JSONSerialization.data(withJSONObject: record.metadata, options: [.sortedKeys])) ?? Data("{}".utf8), as: UTF8.self)),
        ]
        for (name, value) in credentials?(record, profile) ?? [:] { environment[name] = .string(value) }
        var message: [String: JSONValue] = [
            "type": .string("assign"),
            "session_id": .string(record.id.rawValue),
            "agent": .string(record.agent),
            "metadata": .object(record.metadata.mapValues(JSONValue.string)),
            "expires_at": .string(ISO8601DateFormatter().string(from: record.expiresAt)),
            "env": .object(environment),
        ]
        if let room = record.livekitRoom {
            message["livekit"] = .object(["room": .string(room), "identity": .string(record.livekitIdentity ?? "")])
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return (try? encoder.encode(JSONValue.object(message))) ?? Data()
    }

    /// Whether an agent's answer is `{"type": "ack", "session_id": ID}`.
    static func acknowledges(_ reply: Data, session: SessionID) -> Bool {
        guard case .object(let fields)? = try? JSONDecoder().decode(JSONValue.self, from: reply) else { return false }
        return fields["type"] == .string("ack") && fields["session_id"] == .string(session.rawValue)
    }
}
