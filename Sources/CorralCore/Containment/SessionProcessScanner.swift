/// Finds every process of a session in /proc, including those that left its process group:
/// its group, its kernel session, their descendants, and orphans adopted by corral (as child
/// subreaper) that carry the session's `CORRAL_SESSION_ID`.
enum SessionProcessScanner {
    static func scan(leader: Int32, leaderStartTime: UInt64?, pgid: Int32, sessionID: SessionID) -> ProcessListing {
        let table = ProcessTable.read()
        let ownPID = Syscall.currentPID
        var roots: [Int32] = []
        if let stat = table.processes[leader], leaderStartTime == nil || stat.startTime == leaderStartTime {
            roots.append(leader)
        }
        for (pid, stat) in table.processes.sorted(by: { $0.key < $1.key }) where pid != leader {
            if stat.pgid == pgid || stat.sid == leader {
                roots.append(pid)
            } else if stat.ppid == ownPID, stat.sid != Syscall.currentSessionID,
                ProcFS.environmentValue(pid, "CORRAL_SESSION_ID") == sessionID.rawValue
            {
                roots.append(pid)
            }
        }
        var listing = ProcessListing()
        for pid in table.withDescendants(of: roots) {
            guard let stat = table.processes[pid] else { continue }
            guard let arguments = ProcFS.commandLine(pid) else {
                listing.errors.append("process \(pid) vanished while it was being read")
                continue
            }
            let command = arguments.isEmpty ? "[\(stat.name)]" : arguments.joined(separator: " ")
            listing.entries.append(.init(pid: pid, ppid: stat.ppid, pgid: stat.pgid, sid: stat.sid, command: command))
        }
        return listing
    }
}
