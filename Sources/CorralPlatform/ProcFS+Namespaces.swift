/// Pid namespaces as `/proc` shows them: a process's pid in each namespace it is in (`NSpid:` in
/// `/proc/PID/status`, corral's own namespace first, as `/proc` is corral's).
extension ProcFS {
    /// The process's pid in its own namespace and every namespace above it up to corral's,
    /// outermost (corral's) first; one entry for a process in corral's own namespace.
    public static func namespacePIDs(_ pid: Int32) -> [Int32]? {
        guard let bytes = readFile("/proc/\(pid)/status", limit: 16 * 1024) else { return nil }
        for line in bytes.split(separator: UInt8(ascii: "\n")) where line.starts(with: Array("NSpid:".utf8)) {
            let fields = line.dropFirst(6).split(whereSeparator: { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") })
            let pids = fields.compactMap { Int32(String(decoding: $0, as: UTF8.self)) }
            return pids.count == fields.count && !pids.isEmpty ? pids : nil
        }
        return nil
    }

    /// Whether `pid` is the init (PID 1) of a pid namespace one level below corral's: what a
    /// session's init in the pid-namespace containment is.
    public static func isSessionNamespaceInit(_ pid: Int32) -> Bool {
        namespacePIDs(pid) == [pid, 1]
    }

    /// The init of the pid namespace one level below corral's that `pid` is in (however deep
    /// below it `pid` is), found by its ancestors; nil for a process of corral's own namespace.
    /// Every process of a namespace descends from its init (orphans are re-parented to it).
    public static func sessionNamespaceInit(of pid: Int32) -> Int32? {
        var current = pid
        // Ancestors stay below the depth of the process tree; the bound only guards a loop.
        for _ in 0..<4096 {
            guard let pids = namespacePIDs(current), pids.count >= 2 else { return nil }
            if pids.count == 2 && pids[1] == 1 { return current }
            guard let parent = stat(current)?.ppid, parent > 0, parent != current else { return nil }
            current = parent
        }
        return nil
    }
}
