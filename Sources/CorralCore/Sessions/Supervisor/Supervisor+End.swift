import CorralPlatform
import Foundation
import Logging
import CorralStore

/// Ending: a request, a timer, a limit or an exit moves the session to `stopping`; the tree is
/// ended off the actor (`TreeTerminator`); the record is deleted; then the session leaves the
/// table and whoever waited for the end is answered.
extension Supervisor {
    /// Ends the session and answers once nothing of it is left. A session already ending is not
    /// ended twice: the caller gets the result of the end under way.
    public func end(_ id: SessionID, reason: EndReason = .deleted) async throws(CorralError) -> EndResult {
        // At shutdown, ids collected earlier may name idle agents, or sessions they became since.
        PhaseTrace.current?.mark("actor")
        guard let entry = table.entry(id, followingAliases: reason == .shutdown), entry.isSession || reason == .shutdown else {
            throw Self.unknownSession(id)
        }
        return await endAndWait(entry, reason: reason)
    }

    func endAndWait(_ entry: SessionTable.Entry, reason: EndReason) async -> EndResult {
        handle(.endRequested(reason), for: entry)
        return await withCheckedContinuation { entry.handles.endWaiters.append($0) }
    }

    func endAll() async {
        let ids = Array(table.entries.keys)
        if !ids.isEmpty { logger.info("ending every session before exit", metadata: ["count": "\(ids.count)"]) }
        await withDiscardingTaskGroup { group in
            for id in ids {
                group.addTask { _ = try? await self.end(id, reason: .shutdown) }
            }
        }
    }

    func drain() async {
        let deadline = ContinuousClock.now + .seconds(configuration.drainTimeoutSeconds)
        await endIdleAgents()
        await endTemplates()
        logger.info(
            "draining: new sessions are refused, running ones may end by themselves",
            metadata: ["count": "\(table.entries.count)", "timeout_seconds": "\(configuration.drainTimeoutSeconds)"]
        )
        while table.hasSessions, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(50))
        }
    }

    /// Lets go of every session without ending it: their records, processes and cgroups stay
    /// for the next corral to adopt.
    func detachAll() async {
        let entries = table.removeAll()
        for entry in entries {
            cancelTimers(entry.id, instance: entry.instance)
            entry.handles.tree?.detach()
            // A template exits once its channel closes; the next corral starts another.
            entry.handles.templateChannel?.close()
            _ = await writesSettled(entry.id)
        }
        if !entries.isEmpty {
            logger.notice("detached: sessions keep running for the next corral to adopt", metadata: ["count": "\(entries.count)"])
        }
    }

    func beginTermination(_ entry: SessionTable.Entry, reason: EndReason) {
        let handles = entry.handles
        if handles.endBegan == nil, entry.isIdle { idleAgentStopping(entry, reason: reason) }
        if handles.endBegan == nil, entry.isTemplate { templateStopping(entry, reason: reason) }
        handles.endBegan = handles.endBegan ?? .now
        // Not spawned yet: the end goes on once the spawn has returned.
        guard let tree = handles.tree else { return }
        logger.about(entry.record).info("ending session", metadata: [LogKey.reason: "\(reason)"])
        let id = entry.id
        let instance = entry.instance
        let grace = Duration.seconds(configuration.graceSeconds)
        let record = entry.record
        Task { [terminator, metrics, events, logger] in
            PhaseTrace.current?.mark("end task")
            let outcome = await terminator.terminate(tree, grace: grace) { members in
                metrics.processesAtEnd(members.count)
                let escaped = members.filter { $0.pgid != tree.agentGroup }
                guard !escaped.isEmpty else { return }
                metrics.escapesCaught(escaped.count)
                logger.about(record).notice("processes outside the session's process group are ended with it", metadata: ["pids": "\(escaped.map(\.pid))"])
                events.publish(.escape(pids: escaped.map(\.pid)), session: record)
            }
            PhaseTrace.current?.mark("terminated")
            self.terminationFinished(id, instance: instance, outcome: outcome)
        }
    }

    private func terminationFinished(_ id: SessionID, instance: UInt64, outcome: TerminationOutcome) {
        PhaseTrace.current?.mark("actor again")
        guard let entry = table.resolve(id, instance: instance) else { return }
        entry.handles.lastOutcome = outcome
        handle(.terminated, for: entry)
    }

    /// Nothing of the session is left: its record is deleted, and once the store has answered
    /// it leaves the table.
    func remove(_ entry: SessionTable.Entry, reason: EndReason) {
        let handles = entry.handles
        cancelTimers(entry.id, instance: entry.instance)
        // Removing a cgroup retries (and sleeps) while the kernel still calls it busy: on the
        // spawner's threads, never on the actor. Handed to one before the record's deletion (made
        // here, at once where the store allows), so that the two go on side by side.
        let executor = launcher.executor
        let released = handles.tree.map { tree in Task.immediate { await executor.run { tree.release() } } }
        let write = enqueueWrite(entry, delete: true)
        let duration = handles.endBegan.map { .now - $0 } ?? .zero
        // The tree has the leader's exit once it is empty; its event may not have reached the
        // actor yet.
        handles.leaderExit = handles.leaderExit ?? handles.tree?.leaderExit
        let result = EndResult(
            sessionID: entry.id,
            agent: entry.record.agent,
            reason: reason,
            outcome: handles.lastOutcome ?? .exited,
            duration: duration,
            leaderExit: handles.leaderExit
        )
        var metadata: Logger.Metadata = [
            LogKey.reason: "\(reason.name)", LogKey.outcome: "\(result.outcome.rawValue)", LogKey.durationMS: "\(duration.milliseconds)",
        ]
        if let exit = handles.leaderExit { metadata[LogKey.exit] = "\(exit)" }
        if entry.isIdle {
            logger.about(entry.record).info("prewarmed agent ended", metadata: metadata)
        } else if entry.isTemplate {
            logger.about(entry.record).info("template ended", metadata: metadata)
        } else {
            logger.about(entry.record).info("session ended", metadata: metadata)
            metrics.sessionEnded(agent: entry.record.agent, reason: reason, after: duration)
            let ended = CorralEvent.Ended(
                reason: reason, outcome: result.outcome, duration: duration,
                sessionDuration: Date().timeIntervalSince(entry.record.createdAt), exit: handles.leaderExit
            )
            events.publish(.ended(ended), session: entry.record)
        }
        capLog(of: entry)
        let id = entry.id
        let instance = entry.instance
        PhaseTrace.current?.mark("removing")
        Task {
            // Whoever waits for the end is answered once the cgroup is gone.
            await released?.value
            PhaseTrace.current?.mark("released")
            _ = await write.value
            PhaseTrace.current?.mark("written")
            self.forget(id, instance: instance, result: result)
        }
    }

    /// The last step: once the record is gone from the store, the session is gone from the API.
    private func forget(_ id: SessionID, instance: UInt64, result: EndResult) {
        guard let (entry, effects) = table.remove(id, instance: instance) else { return }
        perform(effects, for: id, instance: instance)
        // An exchange under way still uses the channel: it closes it when it returns.
        if !entry.assigning {
            entry.handles.assignment?.close()
            entry.handles.assignment = nil
        }
        entry.handles.templateChannel?.close()
        entry.handles.templateChannel = nil
        entry.handles.answerEndWaiters(result)
    }

    /// A log is looked at while its session lives (`watchSessions`); one written past
    /// `log_max_bytes` since the last look, by an agent that then exited, would keep its size
    /// until `log_retention_seconds`. Off the actor, and off the end's way.
    private func capLog(of entry: SessionTable.Entry) {
        let maxBytes = configuration.logMaxBytes
        guard maxBytes > 0 else { return }
        let (dataDirectory, log) = (dataDirectory, entry.record.logPath)
        Task { await Blocking.run { _ = dataDirectory.rotateIfLarge(log, maxBytes: maxBytes) } }
    }
}
