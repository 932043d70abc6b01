import CorralPlatform
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A `corral serve` running on this host, as `corral doctor` sees it from outside: whether
/// systemd runs it, whether its cgroup is delegated to it, and which controllers reach its
/// sessions. Read from /proc and the cgroup files only (as root for other users' processes).
public struct RunningCorral: Sendable, Codable, Equatable {
    public let pid: Int32
    /// Its cgroup v2 directory.
    public let cgroup: String?
    /// The systemd unit it runs as (its cgroup's name, when systemd started it), or nil.
    public let systemdUnit: String?
    /// The cgroup delegated to it, or nil.
    public let delegatedCgroup: String?
    /// The controllers its delegated cgroup hands down to its sessions' root.
    public let sessionControllers: [String]

    /// Every `corral serve` process on the host but this one.
    public static func find(host: CgroupHost = .discover()) -> [RunningCorral] {
        let own = getpid()
        return ProcFS.allPIDs().compactMap { pid in
            guard pid != own, let arguments = ProcFS.commandLine(pid), arguments.count >= 2,
                arguments[0].split(separator: "/").last == "corral", arguments[1] == "serve"
            else { return nil }
            return RunningCorral(pid: pid, host: host)
        }
    }

    init(pid: Int32, host: CgroupHost) {
        self.pid = pid
        let relative = ProcFS.readFile("/proc/\(pid)/cgroup", limit: 64 * 1024).flatMap { bytes in
            String(decoding: bytes, as: UTF8.self).split(separator: "\n").first { $0.hasPrefix("0::") }.map { String($0.dropFirst(3)) }
        }
        let cgroup = zip(host.v2Mount, relative).map { mount, path in path == "/" ? mount : mount + path }
        self.cgroup = cgroup
        let delegation = cgroup.flatMap { directory in
            CgroupDelegation.find(host: CgroupHost(v2Mount: host.v2Mount, v2OwnPath: String(directory.dropFirst(host.v2Mount?.count ?? 0)), v1: [:]))
        }
        delegatedCgroup = delegation?.directory
        let startedBySystemd = ProcFS.environmentValue(pid, "INVOCATION_ID") != nil
        let unitCgroup = delegation?.directory ?? cgroup
        systemdUnit = startedBySystemd ? unitCgroup.flatMap { $0.split(separator: "/").last.map(String.init) } : nil
        // What the delegated cgroup hands down is what its sessions' root can have.
        sessionControllers = (delegation.flatMap { CgroupFS.read($0.directory + "/cgroup.subtree_control") } ?? "")
            .split(whereSeparator: \.isWhitespace).map(String.init)
    }

    /// One line for `corral doctor`.
    public var summary: String {
        var parts = ["pid \(pid)"]
        parts.append(systemdUnit.map { "run by systemd as \($0)" } ?? "not run by systemd")
        if let delegatedCgroup {
            let controllers = sessionControllers.filter { CgroupHost.limitControllers.contains($0) }
            parts.append("delegated cgroup \(delegatedCgroup)")
            parts.append("sessions' controllers: " + (controllers.isEmpty ? "none" : controllers.joined(separator: " ")))
        } else {
            parts.append("cgroup \(cgroup ?? "unknown"), not delegated")
        }
        return parts.joined(separator: "; ")
    }
}

/// `zip` for two optionals.
private func zip<A, B>(_ a: A?, _ b: B?) -> (A, B)? {
    guard let a, let b else { return nil }
    return (a, b)
}
