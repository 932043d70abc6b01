/// A snapshot of every process on the host, read from /proc at one moment (as far as /proc
/// allows: processes come and go while it is read).
public struct ProcessTable: Sendable {
    public private(set) var processes: [Int32: ProcStat] = [:]
    public private(set) var children: [Int32: [Int32]] = [:]

    public static func read() -> ProcessTable {
        var table = ProcessTable()
        for pid in ProcFS.allPIDs() {
            guard let stat = ProcFS.stat(pid) else { continue }
            table.processes[pid] = stat
            table.children[stat.ppid, default: []].append(pid)
        }
        return table
    }

    /// Whether a process that is not a zombie is in group `pgid`.
    public func hasLiveMember(ofGroup pgid: Int32) -> Bool {
        processes.values.contains { $0.pgid == pgid && !$0.isZombie }
    }

    /// `roots` and all their descendants, each once, in breadth-first order.
    public func withDescendants(of roots: [Int32]) -> [Int32] {
        var seen = Set<Int32>()
        var order: [Int32] = []
        var queue = roots
        var index = 0
        while index < queue.count {
            let pid = queue[index]
            index += 1
            guard processes[pid] != nil, seen.insert(pid).inserted else { continue }
            order.append(pid)
            queue.append(contentsOf: (children[pid] ?? []).sorted())
        }
        return order
    }
}
