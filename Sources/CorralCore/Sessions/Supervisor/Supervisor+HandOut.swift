import CorralPlatform
import Foundation
import Logging
import CorralStore
import CorralConfiguration

/// A warm start: the oldest ready idle agent of the profile is sent the session over its
/// assignment channel and, once it acknowledges, becomes the session.
extension Supervisor {
    /// Hands the session to a ready idle agent of its profile; nil when none takes it (the
    /// caller starts it cold). An agent that does not acknowledge in time is ended and the next
    /// one is tried.
    func startWarm(_ settings: SessionSettings) async throws(CorralError) -> SessionRecord? {
        table.reserve(settings.id, .init(agent: settings.agent, room: settings.livekitRoom, takesPlace: false))
        defer { table.unreserve(settings.id) }
        while let idleID = planner.handOut(settings.agent, isAvailable: { id in
            guard let entry = self.table.entries[id] else { return false }
            return entry.lifecycle.status == .running && !entry.assigning && entry.handles.assignment != nil
        }), let idle = table.entries[idleID], let channel = idle.handles.assignment {
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
            record.livekitJob = settings.livekitJob

            table.setAssigning(idleID, true)
            PhaseTrace.current?.mark("assignment sent")
            var refusal: String?
            do {
                let reply = try await channel.exchange(
                    assignment(for: record, profile: settings.profile, environment: settings.environment), timeout: .seconds(configuration.assignTimeoutSeconds), monitor: monitor
                )
                if !Self.acknowledges(reply, session: settings.id) {
                    refusal = "its answer was not {\"type\":\"ack\",\"session_id\":\"\(settings.id)\"}"
                }
            } catch {
                refusal = error.description
            }
            table.setAssigning(idleID, false)
            PhaseTrace.current?.mark("acknowledged")
            // It may have died while corral waited; its channel is then corral's to close.
            guard let current = table.resolve(idleID, instance: idle.instance), !current.isStopping else {
                if table.resolve(idleID, instance: idle.instance) == nil { channel.close() }
                continue
            }
            guard accepting else {
                // corral began to stop while the agent answered: the session never existed.
                handle(.endRequested(.shutdown), for: current)
                throw notAccepting
            }
            if let refusal {
                logger.about(current.record).warning(
                    "a prewarmed agent did not take its session; it is ended and the session goes to another agent",
                    metadata: [LogKey.reason: "\(refusal)", "session_id": "\(settings.id)"]
                )
                handle(.endRequested(.assignFailed), for: current)
                continue
            }
            if let record = try await handOver(current, to: record) { return record }
        }
        return nil
    }

    /// The acknowledged idle agent becomes the session: first in the store (one atomic change
    /// from its idle record to the session's), then, with no suspension in between, in the
    /// table (its exit watch and timers still find it through its idle id). Until the store has
    /// answered it stays the idle agent, so whatever happens to it meanwhile is written under its
    /// idle id, never under an id another node may hold. Returns nil if it ended meanwhile.
    private func handOver(_ idle: SessionTable.Entry, to record: SessionRecord) async throws(CorralError) -> SessionRecord? {
        let idleID = idle.id
        handingOver.insert(idleID)
        defer { handingOver.remove(idleID) }
        let replaced = writes.enqueue(for: [idleID, record.id]) { [store] () -> CorralError? in
            do throws(CorralError) {
                try await store.replace(idleID, with: record)
                return nil
            } catch {
                return error
            }
        }
        if let error = await replaced.value {
            metrics.storeFailed()
            if error.code != .conflict { storeReachable = false }
            // It was told of a session it cannot have.
            let result = await endAndWait(idle, reason: .failedToStart)
            if error.code == .conflict {
                throw CorralError.sessionIDInUse(record.id)
            }
            throw CorralError(.unavailable, "the session could not be recorded, so its agent was stopped (\(result.outcome.rawValue)): \(error.message)")
        }
        guard let current = table.resolve(idleID, instance: idle.instance), !current.isStopping else {
            // It ended while the store answered: the record just written is this node's to undo.
            _ = await enqueueDelete(record.id).value
            return nil
        }
        PhaseTrace.current?.mark("handed over in the store")
        perform(table.handOver(idleID, instance: idle.instance, to: record), for: record.id, instance: idle.instance)
        let handles = current.handles
        handles.tree?.recognise(record.id)
        cancelTimers(idleID, instance: idle.instance)
        guard var session = table.resolve(record.id, instance: idle.instance) else { return nil }
        perform([.lifecycle(.startDeadlineTimer)], for: record.id, instance: idle.instance)
        // The channel has served its purpose.
        handles.assignment?.close()
        handles.assignment = nil
        if let moved = dataDirectory.moveLog(session.record.logPath, to: record.id) {
            table.update(record.id, instance: idle.instance) { $0.logPath = moved }
            session = table.resolve(record.id, instance: idle.instance) ?? session
            enqueueWrite(session)
        }
        logger.about(session.record).info("prewarmed agent took the session", metadata: ["idle_id": "\(idleID)", LogKey.pid: "\(record.pid ?? 0)"])
        table.markAnnounced(record.id)
        announceStarted(session.snapshot)
        events.publish(.ready, session: session.record)
        refillPools()
        PhaseTrace.current?.mark("warm start done")
        return session.snapshot
    }

    /// The one line an idle agent is handed: the session and what a cold start would have put
    /// in its environment.
    private func assignment(for record: SessionRecord, profile: AgentProfile, environment extra: [String: String]) -> Data {
        let credentials = (credentials?(record, profile) ?? [:]).merging(extra) { $1 }
        let environment = AgentCommand.session(record, agent: record.agent, credentials: credentials).mapValues(JSONValue.string)
        var message: [String: JSONValue] = [
            "type": .string("assign"),
            "session_id": .string(record.id.rawValue),
            "agent": .string(record.agent),
            "metadata": .object(record.metadata.mapValues(JSONValue.string)),
            "expires_at": .string(RFC3339.string(record.expiresAt)),
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
