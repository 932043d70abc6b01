import CorralPlatform
/// Finds every process of a process-group session in a /proc snapshot, including those that
/// left its process group: its group, its kernel session, their descendants, and orphans adopted
/// by corral (as child subreaper) that carry the session's `CORRAL_SESSION_ID`.
enum SessionProcessScanner {
    struct Session {
        /// The values of `CORRAL_SESSION_ID` its processes may carry.
        let ids: Set<String>
        let leader: Int32
        let leaderStartTime: UInt64?
        var pgid: Int32 { leader }
    }

    /// The session's pids, the leader first, then breadth-first.
    static func members(of session: Session, in table: ProcessTable) -> [Int32] {
        let ownPID = Syscall.currentPID
        let ownSession = Syscall.currentSessionID
        var roots: [Int32] = []
        if let stat = table.processes[session.leader], !stat.isZombie,
            session.leaderStartTime == nil || stat.startTime == session.leaderStartTime
        {
            roots.append(session.leader)
        }
        for (pid, stat) in table.processes.sorted(by: { $0.key < $1.key }) where pid != session.leader {
            if stat.pgid == session.pgid || stat.sid == session.leader {
                roots.append(pid)
            } else if stat.ppid == ownPID, stat.sid != ownSession,
                let tag = ProcFS.environmentValue(pid, "CORRAL_SESSION_ID"), session.ids.contains(tag)
            {
                roots.append(pid)
            }
        }
        return table.withDescendants(of: roots)
    }

    /// Reads pid, ppid, pgid and command line of each process, in order.
    static func listing(of pids: [Int32]) -> ProcessListing {
        var listing = ProcessListing()
        for pid in pids {
            guard let stat = ProcFS.stat(pid), let arguments = ProcFS.commandLine(pid) else {
                listing.errors.append("process \(pid) vanished while it was being read")
                continue
            }
            listing.entries.append(.init(pid: pid, ppid: stat.ppid, pgid: stat.pgid, sid: stat.sid, arguments: arguments, name: stat.name, isZombie: stat.isZombie))
        }
        return listing
    }

    /// Reads the command line of each member, in order.
    static func listing(of members: [SessionTreeWalk.Member]) -> ProcessListing {
        var listing = ProcessListing()
        for member in members {
            guard let arguments = ProcFS.commandLine(member.pid) else {
                listing.errors.append("process \(member.pid) vanished while it was being read")
                continue
            }
            let stat = member.stat
            listing.entries.append(.init(pid: member.pid, ppid: stat.ppid, pgid: stat.pgid, sid: stat.sid, arguments: arguments, name: stat.name, isZombie: stat.isZombie))
        }
        return listing
    }

    static func residentBytes(of pids: [Int32]) -> UInt64 {
        pids.reduce(0) { $0 + (ProcFS.residentBytes($1) ?? 0) }
    }

    static func proportionalBytes(of pids: [Int32]) -> UInt64 {
        pids.reduce(0) { $0 + (ProcFS.proportionalBytes($1) ?? 0) }
    }
}
