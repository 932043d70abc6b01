import CorralServer

/// A session's processes drawn as a tree (by parent pid), the leader at the root; processes
/// whose parent is not in the session are roots of their own, marked when outside the group
/// (`sessionPGID`; nil where the group is not what holds the session: a pid namespace's init
/// and its agent lead groups of their own).
struct ProcessTree {
    let processes: [SessionProcessJSON]
    let sessionPGID: Int32?

    init(_ processes: [SessionProcessJSON], sessionPGID: Int32?) {
        self.processes = processes
        self.sessionPGID = sessionPGID
    }

    var rendered: String {
        let pids = Set(processes.map(\.pid))
        var children: [Int32: [SessionProcessJSON]] = [:]
        var roots: [SessionProcessJSON] = []
        for process in processes {
            if pids.contains(process.ppid), process.ppid != process.pid {
                children[process.ppid, default: []].append(process)
            } else {
                roots.append(process)
            }
        }
        var lines: [String] = []
        func draw(_ process: SessionProcessJSON, prefix: String, connector: String, childPrefix: String) {
            let outside = sessionPGID.map { process.pgid != $0 } == true ? "  [left the group: pgid \(process.pgid)]" : ""
            lines.append("\(prefix)\(connector)\(process.pid) \(Formatting.printable(process.cmd))\(outside)")
            let kids = children[process.pid] ?? []
            for (index, child) in kids.enumerated() {
                let last = index == kids.count - 1
                draw(child, prefix: prefix + childPrefix, connector: last ? "└─ " : "├─ ", childPrefix: last ? "   " : "│  ")
            }
        }
        for root in roots { draw(root, prefix: "", connector: "", childPrefix: "") }
        return lines.joined(separator: "\n")
    }
}
