import CorralPlatform
import Foundation
import Logging
import CorralStore

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
        for entry in table.entries.values where !entry.isStopping {
            guard let tree = entry.handles.tree else { continue }
            if entry.record.expiresAt <= now {
                handle(.deadlineReached, for: entry)
            } else if !entry.handles.exitWatched, tree.leader.hasExited {
                // An adopted leader whose exit could not be watched.
                handle(.leaderExited(.unknown), for: entry)
            }
        }
        // A stat per log: off the actor.
        let dataDirectory = dataDirectory
        let retention = configuration.logRetentionSeconds
        let keep = Set(table.entries.values.map(\.record.logPath))
        let removedLogs = await Blocking.run { dataDirectory.removeLogs(olderThan: retention, keeping: keep) }
        if removedLogs > 0 { logger.info("removed expired session logs", metadata: ["count": "\(removedLogs)"]) }
        let records: [SessionRecord]
        do {
            records = try await store.records(excluding: Set(table.entries.keys))
        } catch {
            metrics.storeFailed()
            logger.error("sweep could not read the session store", metadata: [LogKey.error: "\(error)"])
            return
        }
        for record in records where table.entries[record.id] == nil && isOwn(record) {
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
