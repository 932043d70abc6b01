extension HostReport {
    /// What a containment catches of the ways a session's processes escape: with a cgroup per
    /// session (`cgroupKill`: ended at once; `memory`, `pids`: the controller that holds each
    /// limit, nil where it is only watched), or with process groups.
    static func catches(cgroup: Bool, cgroupKill: Bool, memory: String?, pids: String?) -> [Escape] {
        guard cgroup else {
            return [
                Escape(name: "child that calls setsid()", contained: true, how: "found by ancestry, kernel session and CORRAL_SESSION_ID; killed by pidfd"),
                Escape(
                    name: "double-forked daemon", contained: true,
                    how: "found as an orphan re-parented to corral carrying CORRAL_SESSION_ID, or by a sighting; one that clears its environment and detaches between two passes is missed"),
                Escape(name: "process ignoring SIGTERM", contained: true, how: "SIGKILL after grace_seconds"),
                Escape(name: "fork bomb", contained: false, how: "not capped: the session is ended once over pids_limit, checked every watch_interval_seconds"),
                Escape(name: "memory hog", contained: false, how: "not capped: the session is ended once its processes' RSS is over memory_limit_mb"),
            ]
        }
        return [
            Escape(name: "child that calls setsid()", contained: true, how: "it stays in the session's cgroup"),
            Escape(name: "double-forked daemon", contained: true, how: "it stays in the session's cgroup"),
            Escape(
                name: "process ignoring SIGTERM", contained: true,
                how: cgroupKill ? "SIGKILL after grace_seconds (cgroup.kill)" : "SIGKILL after grace_seconds, process by process"),
            Escape(
                name: "fork bomb", contained: pids != nil,
                how: pids.map { "capped by pids_limit (\($0))" } ?? "no pids controller: the session is ended once over pids_limit, checked every watch_interval_seconds"),
            Escape(
                name: "memory hog", contained: memory != nil,
                how: memory.map { "capped by memory_limit_mb (\($0))" } ?? "no memory controller: the session is ended once over memory_limit_mb, checked every watch_interval_seconds"),
        ]
    }

    /// Escapes as the report's text shows them.
    static func lines(_ escapes: [Escape]) -> [String] {
        escapes.map { "\($0.contained ? "contained    " : "NOT contained") \($0.name): \($0.how)" }
    }
}
