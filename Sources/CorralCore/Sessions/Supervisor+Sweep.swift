import Foundation
import Logging

extension Supervisor {
    func sweepPeriodically() async {
        let interval = Duration.seconds(configuration.sweepIntervalSeconds)
        while !Task.isCancelled {
            do { try await Task.sleep(for: interval) } catch { return }
            await sweep()
        }
    }

    /// The safety net behind the per-session timers and exit events: ends sessions past their
    /// deadline and removes records whose processes are gone.
    func sweep() async {
        let now = Date()
        for session in sessions.values where !session.lifecycle.isStopping {
            guard let tree = session.tree else { continue }
            if session.record.expiresAt <= now {
                perform(session.lifecycle.handle(.deadlineReached), for: session)
            } else if session.watchToken == nil, tree.leader.hasExited {
                // An adopted leader whose exit could not be watched.
                perform(session.lifecycle.handle(.leaderExited(.unknown)), for: session)
            }
        }
        // A stat per log: off the actor.
        let dataDirectory = dataDirectory
        let retention = configuration.logRetentionSeconds
        let keep = Set(sessions.values.map { $0.record.logPath })
        let removedLogs = await Blocking.run { dataDirectory.removeLogs(olderThan: retention, keeping: keep) }
        if removedLogs > 0 { logger.info("removed expired session logs", metadata: ["count": "\(removedLogs)"]) }
        let records: [SessionRecord]
        do {
            records = try await store.records(excluding: Set(sessions.keys))
        } catch {
            metrics.storeFailed()
            logger.error("sweep could not read the session store", metadata: [LogKey.error: "\(error)"])
            return
        }
        for record in records where sessions[record.id] == nil && isOwn(record) {
            if let pid = record.pid, let stat = ProcFS.stat(pid), !stat.isZombie, stat.startTime == record.leaderStartTime {
                logger.about(record).warning("a session from an earlier run of corral is still running and is not supervised")
                continue
            }
            if await enqueueDelete(record.id).value {
                logger.about(record).notice("removed the record of a session whose processes are gone")
            }
        }
    }
}
