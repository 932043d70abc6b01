#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// What `CgroupRoot` would find at a root, found by reading only: no cgroup is made, locked or
/// written to. `corral check` says with it whether the configured containment can be had,
/// without trying (`corral doctor` tries). A root that reads as usable may still refuse a child
/// (delegation rules reading cannot see); one that reads as unusable is.
public struct CgroupRootProbe: Sendable, Equatable {
    /// The root a corral started now would use, where the host has a v2 hierarchy to put it in.
    public let path: String?
    /// Why it cannot be used, or nil where it reads as usable.
    public let problem: String?
    /// How each limit controller would enforce limits (`cgroup v2 memory`, `cgroup v1 pids`); a
    /// controller missing here is not available for corral's cgroups.
    public let enforcement: [String: String]

    /// The root for `configured` (`cgroup_root`, nil for the default next to this process's own
    /// cgroup) on `host`.
    public static func inspect(configured: String?, host: CgroupHost) -> CgroupRootProbe {
        guard let mount = host.v2Mount, let path = configured ?? CgroupRoot.defaultPath(host: host) else {
            return CgroupRootProbe(path: configured, problem: "this host has no cgroup v2 hierarchy", enforcement: [:])
        }
        guard path.hasPrefix(mount + "/") else {
            return CgroupRootProbe(path: path, problem: "cgroup_root \(path) is not inside the cgroup v2 hierarchy (\(mount))", enforcement: [:])
        }
        if let problem = problem(of: path) {
            return CgroupRootProbe(path: path, problem: problem, enforcement: [:])
        }
        // A root that is there offers what its cgroup.controllers lists; a new one what its
        // parent hands down (the parent's cgroup.subtree_control).
        let offered =
            PathProbe.kind(path) == .directory
            ? CgroupHost.availableControllers(at: path)
            : Set((CgroupFS.read(PathProbe.parent(of: path) + "/cgroup.subtree_control") ?? "").split(whereSeparator: \.isWhitespace).map(String.init))
        var enforcement: [String: String] = [:]
        let name = String(path.split(separator: "/").last ?? "corral")
        for controller in CgroupHost.limitControllers {
            if offered.contains(controller) {
                enforcement[controller] = "cgroup v2 \(controller)"
            } else if let hierarchy = host.v1[controller] {
                let directory = hierarchy.ownDirectory + "/" + name
                if PathProbe.kind(directory) == .directory || access(hierarchy.ownDirectory, W_OK) == 0 {
                    enforcement[controller] = "cgroup v1 \(controller)"
                }
            }
        }
        return CgroupRootProbe(path: path, problem: nil, enforcement: enforcement)
    }

    /// Why the root at `path`, inside the v2 hierarchy, cannot be used, or nil.
    private static func problem(of path: String) -> String? {
        switch PathProbe.kind(path) {
        case .directory:
            guard CgroupFS.exists(path + "/cgroup.procs") else { return "\(path) is not a cgroup" }
            if access(path, W_OK) != 0 { return "the cgroup \(path) is not writable" }
            if let holder = PathProbe.lockHolder(path) {
                return "another corral (pid \(holder)) is using the cgroup \(path); give each corral its own cgroup_root"
            }
            return nil
        case .missing:
            let parent = PathProbe.parent(of: path)
            guard PathProbe.kind(parent) == .directory, CgroupFS.exists(parent + "/cgroup.procs") else {
                return "cannot create the cgroup \(path): its parent \(parent) is not a cgroup"
            }
            return access(parent, W_OK) == 0 ? nil : "cannot create the cgroup \(path): \(parent) is not writable"
        case .file, .other:
            return "\(path) is not a cgroup"
        }
    }
}
