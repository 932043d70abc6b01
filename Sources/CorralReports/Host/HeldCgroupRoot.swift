import CorralPlatform
/// A cgroup root another `corral serve` holds (its lock is taken), and the containment that
/// corral's sessions have there, read from outside: the controllers it enabled for them and the
/// session cgroups below it. `corral doctor`, run beside a running corral, reports this as the
/// running corral's, apart from what a second corral started now would get.
public struct HeldCgroupRoot: Sendable, Codable, Equatable {
    /// The corral holding it, as `/proc/locks` names it (nil where its pid is not visible).
    public let pid: Int32?
    public let path: String
    /// How each kind of limit is held for its sessions, by controller (`memory`: `cgroup v2
    /// memory`); a controller not listed is watched, not enforced.
    public let enforcement: [String: String]
    /// Whether its sessions can be ended at once (`cgroup.kill`).
    public let cgroupKill: Bool
    /// Its session cgroups now.
    public let sessions: Int

    /// The root at `path` if a process holds its lock, else nil (a free or missing root, which a
    /// corral started now would take).
    public static func find(path: String, host: CgroupHost) -> HeldCgroupRoot? {
        guard CgroupFS.exists(path), let pid = FileLock.holder(atPath: path) else { return nil }
        let name = String(path.split(separator: "/").last ?? "corral")
        var enforcement: [String: String] = [:]
        // What the holder enabled for the sessions below the root (`cgroup.subtree_control`),
        // else the v1 cgroup it made for them beside its own.
        let enabled = Set((CgroupFS.read(path + "/cgroup.subtree_control") ?? "").split(whereSeparator: \.isWhitespace).map(String.init))
        let ownV1 = v1Paths(of: pid)
        for controller in CgroupHost.limitControllers {
            if enabled.contains(controller) {
                enforcement[controller] = "cgroup v2 \(controller)"
            } else if let mount = host.v1[controller]?.mount, let own = ownV1[controller],
                CgroupFS.exists((own == "/" ? mount : mount + own) + "/" + name)
            {
                enforcement[controller] = "cgroup v1 \(controller)"
            }
        }
        return HeldCgroupRoot(
            pid: pid, path: path, enforcement: enforcement, cgroupKill: CgroupFS.exists(path + "/cgroup.kill"),
            sessions: CgroupFS.subdirectories(path).filter { $0.hasPrefix(SessionCgroup.prefix) }.count
        )
    }

    /// The process's v1 cgroups, by controller.
    private static func v1Paths(of pid: Int32) -> [String: String] {
        var paths: [String: String] = [:]
        for line in (CgroupFS.read("/proc/\(pid)/cgroup") ?? "").split(separator: "\n") {
            let fields = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count == 3, fields[0] != "0" else { continue }
            for controller in fields[1].split(separator: ",") { paths[String(controller)] = String(fields[2]) }
        }
        return paths
    }

    /// One line for `corral doctor`.
    public var summary: String {
        let holder = pid.map { "pid \($0)" } ?? "a process this namespace cannot see"
        let limits = CgroupHost.limitControllers.map { "\($0): \(enforcement[$0] ?? "watched, not enforced")" }.joined(separator: "; ")
        return "cgroup (a cgroup per session below \(path), held by the running corral, \(holder); \(sessions) session cgroup(s) now; limits: \(limits))"
    }

    /// What its sessions' containment catches.
    public var escapes: [HostReport.Escape] {
        HostReport.catches(cgroup: true, cgroupKill: cgroupKill, memory: enforcement["memory"], pids: enforcement["pids"])
    }
}
