/// A session's processes drawn as a tree (by parent pid), the leader at the root; processes
/// whose parent is not in the session are roots of their own, marked when outside the group.
struct ProcessTree {
    let processes: [[String: Any]]
    let sessionPGID: Int

    init(_ processes: [[String: Any]], sessionPGID: Int) {
        self.processes = processes
        self.sessionPGID = sessionPGID
    }

    var rendered: String {
        let pids = Set(processes.compactMap { $0["pid"] as? Int })
        var children: [Int: [[String: Any]]] = [:]
        var roots: [[String: Any]] = []
        for process in processes {
            if let parent = process["ppid"] as? Int, pids.contains(parent), parent != process["pid"] as? Int {
                children[parent, default: []].append(process)
            } else {
                roots.append(process)
            }
        }
        var lines: [String] = []
        func draw(_ process: [String: Any], prefix: String, connector: String, childPrefix: String) {
            let pid = process["pid"] as? Int ?? 0
            let pgid = process["pgid"] as? Int ?? 0
            let outside = pgid != sessionPGID ? "  [left the group: pgid \(pgid)]" : ""
            lines.append("\(prefix)\(connector)\(pid) \(process["cmd"] as? String ?? "")\(outside)")
            let kids = children[pid] ?? []
            for (index, child) in kids.enumerated() {
                let last = index == kids.count - 1
                draw(child, prefix: prefix + childPrefix, connector: last ? "└─ " : "├─ ", childPrefix: last ? "   " : "│  ")
            }
        }
        for root in roots { draw(root, prefix: "", connector: "", childPrefix: "") }
        return lines.joined(separator: "\n")
    }
}
