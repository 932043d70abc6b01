import CorralPlatform
/// The processes of a process-group session that this corral started, found without reading
/// every process on the host: from the leader down (`/proc/PID/task/*/children`), plus the
/// processes re-parented to corral as child subreaper that belong to the session (by its process
/// group, its kernel session or the `CORRAL_SESSION_ID` they carry; corral's other children, the
/// leaders of its sessions, are not looked at), plus those corral saw outside the group earlier
/// and are still the same processes, each with its descendants. Adopted sessions need the full
/// scan (`SessionProcessScanner`): their orphans went to init, and corral never saw their
/// ancestry.
struct SessionTreeWalk {
    struct Member {
        let pid: Int32
        let stat: ProcStat
    }

    let session: SessionProcessScanner.Session
    /// Leaders of corral's sessions (its children that are not orphans).
    let leaders: Set<Int32>
    /// Processes of the session seen outside its group (pid → start time).
    let sightings: [Int32: UInt64]

    /// The session's processes, the leader first, then breadth-first.
    func members() -> [Member] {
        var walk = Walk()
        if let stat = ProcFS.stat(session.leader), !stat.isZombie,
            session.leaderStartTime == nil || stat.startTime == session.leaderStartTime
        {
            walk.add(Member(pid: session.leader, stat: stat))
        }
        for (pid, start) in sightings.sorted(by: { $0.key < $1.key }) {
            if let stat = ProcFS.stat(pid), stat.startTime == start { walk.add(Member(pid: pid, stat: stat)) }
        }
        walk.descend()
        // corral's children are read after the walk: a process whose parent exited during it was
        // re-parented before that parent's list of children came back empty. Again while new
        // ones turn up, since their children may lose them meanwhile.
        let ownPID = Syscall.currentPID
        let ownSession = Syscall.currentSessionID
        var judged = Set<Int32>()
        while true {
            var found = false
            for child in ProcFS.childrenOfCurrentProcess().sorted() where !leaders.contains(child) && !walk.has(child) {
                guard judged.insert(child).inserted, let stat = ProcFS.stat(child), stat.ppid == ownPID, stat.sid != ownSession else { continue }
                guard stat.pgid == session.pgid || stat.sid == session.leader || carriesSessionID(child) else { continue }
                walk.add(Member(pid: child, stat: stat))
                found = true
            }
            guard found else { return walk.found }
            walk.descend()
        }
    }

    private func carriesSessionID(_ pid: Int32) -> Bool {
        ProcFS.environmentValue(pid, "CORRAL_SESSION_ID").map(session.ids.contains) ?? false
    }

    /// Processes found so far; `descend` adds the children of those not yet descended from.
    private struct Walk {
        private(set) var found: [Member] = []
        private var seen = Set<Int32>()
        private var descended = 0

        func has(_ pid: Int32) -> Bool { seen.contains(pid) }

        mutating func add(_ member: Member) {
            if seen.insert(member.pid).inserted { found.append(member) }
        }

        mutating func descend() {
            while descended < found.count {
                let parent = found[descended].pid
                descended += 1
                for child in ProcFS.children(of: parent).sorted() where !seen.contains(child) {
                    // The list may be stale by now: a pid reused since is no longer this parent's.
                    guard let stat = ProcFS.stat(child), stat.ppid == parent else { continue }
                    add(Member(pid: child, stat: stat))
                }
            }
        }
    }
}
