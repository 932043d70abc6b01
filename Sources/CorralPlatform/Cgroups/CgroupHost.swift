/// Where this host's cgroup hierarchies are and where corral itself sits in them.
public struct CgroupHost: Sendable {
    public struct V1Controller: Sendable, Equatable {
        /// The hierarchy's mount point, e.g. `/sys/fs/cgroup/memory`.
        public let mount: String
        /// corral's own cgroup in it, e.g. `/` or `/system.slice/corral.service`.
        public let ownPath: String

        /// corral's own cgroup directory in this hierarchy.
        public var ownDirectory: String { ownPath == "/" ? mount : mount + ownPath }
    }

    /// The cgroup v2 mount (`/sys/fs/cgroup` on a pure v2 host, `/sys/fs/cgroup/unified` on a
    /// hybrid one), if there is one.
    public let v2Mount: String?
    /// corral's own cgroup in the v2 hierarchy.
    public let v2OwnPath: String
    /// The v1 controllers corral can use for limits (`memory`, `pids`, `cpu`).
    public let v1: [String: V1Controller]

    package init(v2Mount: String?, v2OwnPath: String, v1: [String: V1Controller]) {
        self.v2Mount = v2Mount
        self.v2OwnPath = v2OwnPath
        self.v1 = v1
    }

    public static let limitControllers = ["memory", "pids", "cpu"]

    public var v2OwnDirectory: String? {
        v2Mount.map { v2OwnPath == "/" ? $0 : $0 + v2OwnPath }
    }

    /// Reads /proc/self/mounts and /proc/self/cgroup.
    public static func discover() -> CgroupHost {
        var v2Mounts: [String] = []
        var v1Mounts: [String: String] = [:]
        for line in (CgroupFS.read("/proc/self/mounts") ?? "").split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count >= 4 else { continue }
            let mount = String(fields[1])
            if fields[2] == "cgroup2" {
                v2Mounts.append(mount)
            } else if fields[2] == "cgroup" {
                for option in fields[3].split(separator: ",") where limitControllers.contains(String(option)) {
                    v1Mounts[String(option)] = mount
                }
            }
        }
        var v2Own = "/"
        var v1Own: [String: String] = [:]
        for line in (CgroupFS.read("/proc/self/cgroup") ?? "").split(separator: "\n") {
            let fields = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count == 3 else { continue }
            if fields[0] == "0" && fields[1].isEmpty {
                v2Own = String(fields[2])
            } else {
                for controller in fields[1].split(separator: ",") { v1Own[String(controller)] = String(fields[2]) }
            }
        }
        let preferred = ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"].first { v2Mounts.contains($0) } ?? v2Mounts.first
        var v1: [String: V1Controller] = [:]
        for (controller, mount) in v1Mounts {
            v1[controller] = V1Controller(mount: mount, ownPath: v1Own[controller] ?? "/")
        }
        return CgroupHost(v2Mount: preferred, v2OwnPath: v2Own, v1: v1)
    }

    /// Controllers the v2 hierarchy offers at `directory` (its `cgroup.controllers`).
    static func availableControllers(at directory: String) -> Set<String> {
        Set((CgroupFS.read(directory + "/cgroup.controllers") ?? "").split(whereSeparator: \.isWhitespace).map(String.init))
    }
}
