import CorralPlatform
import Foundation
import Logging
import CorralStore

extension Supervisor {
    func watchPeriodically() async {
        let interval = Duration.seconds(configuration.watchIntervalSeconds)
        while !Task.isCancelled {
            do { try await Task.sleep(for: interval) } catch { return }
            await watchSessions()
            if !planner.isEmpty { await recordIdleMemory() }
        }
    }

    /// One pass over live sessions: records escaped processes (process-group trees) and checks
    /// limits. The reading happens off the actor; the decisions on it.
    func watchSessions() async {
        struct Watched: Sendable {
            let id: SessionID
            let instance: UInt64
            let tree: any ContainedTree
            let limits: ResourceLimits
        }
        // Every pass looks at the logs' sizes (a stat each): an agent can write as fast as the
        // disk takes, and fill it between two looks far apart.
        let logs = configuration.logMaxBytes > 0 ? table.entries.values.map(\.record.logPath) : []
        let maxBytes = configuration.logMaxBytes
        let dataDirectory = dataDirectory
        let watched = table.entries.values.compactMap { entry -> Watched? in
            let handles = entry.handles
            guard handles.isWatched, !entry.isStopping, let tree = handles.tree else { return nil }
            return Watched(id: entry.id, instance: entry.instance, tree: tree, limits: handles.limits)
        }
        guard !watched.isEmpty || !logs.isEmpty else { return }
        let readings = await Blocking.run { () -> [(Watched, [ProcessSighting], ResourceUsage?, LimitViolation?)] in
            for log in logs { _ = dataDirectory.rotateIfLarge(log, maxBytes: maxBytes) }
            let table = watched.contains { $0.tree.needsProcessTable } ? ProcessTable.read() : nil
            return watched.map { item in
                var sightings: [ProcessSighting] = []
                if let table, item.tree.needsProcessTable {
                    item.tree.track(table)
                    sightings = item.tree.sightings
                }
                guard item.limits.memoryBytes != nil || item.limits.pids != nil else { return (item, sightings, nil, nil) }
                return (item, sightings, item.tree.usage(in: table), item.tree.limitViolation())
            }
        }
        for (item, sightings, usage, kernelViolation) in readings {
            guard var session = table.resolve(item.id, instance: item.instance) else { continue }
            if sightings != session.record.sightings, !session.isStopping, mayBeWrittenAgain(session) {
                session = recordSightings(sightings, of: session)
            }
            guard let usage else { continue }
            if let violation = kernelViolation ?? exceeded(item.limits, usage, enforced: item.tree.enforcedLimits) {
                logger.about(session.record).warning(
                    "session over its limit; ending it",
                    metadata: ["limit": "\(EndReason(violation).name)", "memory_bytes": "\(usage.memoryBytes)", "processes": "\(usage.processes)"]
                )
                let limit = CorralEvent.Limit(violation: violation, exceeded: true, memoryBytes: usage.memoryBytes, processes: usage.processes, limitBytes: nil)
                events.publish(.limit(limit), session: session.record)
                handle(.limitExceeded(violation), for: session)
            } else if let limit = item.limits.memoryBytes, usage.memoryBytes * 10 >= limit * 8, !session.handles.warnedAboutMemory {
                session.handles.warnedAboutMemory = true
                logger.about(session.record).warning(
                    "session uses over 80% of its memory limit",
                    metadata: ["memory_bytes": "\(usage.memoryBytes)", "limit_bytes": "\(limit)"]
                )
                let warning = CorralEvent.Limit(violation: .memory, exceeded: false, memoryBytes: usage.memoryBytes, processes: nil, limitBytes: limit)
                events.publish(.limit(warning), session: session.record)
            }
        }
    }

    /// A process that leaves the group, drops its environment and loses its parent is known
    /// only by its sighting: the record keeps them, so that a restarted corral ends them too.
    private func recordSightings(_ sightings: [ProcessSighting], of session: SessionTable.Entry) -> SessionTable.Entry {
        table.update(session.id, instance: session.instance) { $0.sightings = sightings }
        guard let updated = table.resolve(session.id, instance: session.instance) else { return session }
        enqueueWrite(updated)
        return updated
    }

    /// A limit the kernel does not enforce for this tree and the session went over.
    private func exceeded(_ limits: ResourceLimits, _ usage: ResourceUsage, enforced: Set<LimitViolation>) -> LimitViolation? {
        if let bytes = limits.memoryBytes, !enforced.contains(.memory), usage.memoryBytes > bytes { return .memory }
        if let pids = limits.pids, !enforced.contains(.pids), usage.processes > pids { return .pids }
        return nil
    }
}
