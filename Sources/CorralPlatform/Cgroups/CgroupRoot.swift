import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// corral's own parent cgroup (`cgroup_root`), and its counterparts in the v1 hierarchies used
/// for limits when the v2 hierarchy lacks a controller. corral creates and removes only these
/// and the session cgroups below them. The v2 directory is locked (flock) so that two corrals
/// never share one: each would take the other's sessions for orphans.
public final class CgroupRoot: Sendable {
    public let path: String
    public let host: CgroupHost
    /// Controllers enabled for session cgroups in the v2 hierarchy.
    public let v2Controllers: Set<String>
    /// v1 directories (by controller) under which session cgroups get their limits.
    public let v1Directories: [String: String]
    private let lockFD: Int32
    /// Session cgroups (by name) this corral is making or has made and not removed. They are
    /// never orphans, whatever the store says: a start under way has no record of its cgroup yet.
    private let own = Mutex<Set<String>>([])

    public var name: String { String(path.split(separator: "/").last ?? "corral") }

    /// The default: a `corral` cgroup beside corral's own leaf in a cgroup delegated to it, or
    /// else below corral's own cgroup in the v2 hierarchy.
    public static func defaultPath(host: CgroupHost) -> String? {
        if let delegation = CgroupDelegation.find(host: host) { return delegation.defaultRoot }
        return host.v2OwnDirectory.map { $0 + "/" + CgroupDelegation.rootName }
    }

    /// Creates (or reuses) the root and locks it.
    public init(path: String, host: CgroupHost) throws(CorralError) {
        guard let mount = host.v2Mount, path.hasPrefix(mount + "/") else {
            throw CorralError(.configuration, "cgroup_root \(path) is not inside the cgroup v2 hierarchy (\(host.v2Mount ?? "none found"))")
        }
        let created = mkdir(path, 0o755) == 0
        if !created && errno != EEXIST {
            throw CorralError(.system, "cannot create the cgroup \(path)", underlying: SystemError("mkdir", errno: errno))
        }
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else {
            throw CorralError(.system, "cannot open the cgroup \(path)", underlying: SystemError("open", errno: errno))
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let holder = FileLock.holder(of: fd).map { " (pid \($0))" } ?? ""
            Syscall.close(fd)
            throw CorralError(.conflict, "another corral\(holder) is using the cgroup \(path); give each corral its own cgroup_root")
        }
        // A cgroup we may use must accept a new child: probe it.
        let probe = path + "/corral-probe-\(getpid())"
        do {
            try CgroupFS.makeDirectory(probe)
            CgroupFS.removeDirectory(probe)
        } catch {
            Syscall.close(fd)
            if created { CgroupFS.removeDirectory(path) }
            throw CorralError(.system, "the cgroup \(path) is not writable", underlying: error)
        }
        self.path = path
        self.host = host
        self.lockFD = fd

        // Enable what the parent hands down; never touch the parent itself.
        var enabled = Set<String>()
        let available = CgroupHost.availableControllers(at: path)
        for controller in CgroupHost.limitControllers where available.contains(controller) {
            if (try? CgroupFS.write("+\(controller)", to: path + "/cgroup.subtree_control")) != nil {
                enabled.insert(controller)
            }
        }
        self.v2Controllers = enabled

        var v1: [String: String] = [:]
        let name = String(path.split(separator: "/").last ?? "corral")
        for controller in CgroupHost.limitControllers where !enabled.contains(controller) {
            guard let hierarchy = host.v1[controller] else { continue }
            let directory = hierarchy.ownDirectory + "/" + name
            if mkdir(directory, 0o755) == 0 || errno == EEXIST { v1[controller] = directory }
        }
        self.v1Directories = v1
    }

    deinit {
        Syscall.close(lockFD)
    }

    /// Which controller enforces each kind of limit, for reports.
    public func enforcement(of controller: String) -> String? {
        if v2Controllers.contains(controller) { return "cgroup v2 \(controller)" }
        if v1Directories[controller] != nil { return "cgroup v1 \(controller)" }
        return nil
    }

    /// Session cgroups left below the root (from a previous run).
    public func sessionDirectories() -> [String] {
        CgroupFS.subdirectories(path).filter { $0.hasPrefix(SessionCgroup.prefix) }
    }

    /// Claims a session cgroup's name before it is made, so that from the moment it exists it
    /// is known as this corral's.
    func claim(_ name: String) { _ = own.withLock { $0.insert(name) } }

    /// The session cgroup is gone (or was never made).
    func disclaim(_ name: String) { _ = own.withLock { $0.remove(name) } }

    /// Whether this corral made the session cgroup `name` and has not removed it.
    package func owns(_ name: String) -> Bool { own.withLock { $0.contains(name) } }

    /// Removes the root and its v1 counterparts if no session cgroup is left in them.
    public func removeIfUnused() {
        guard sessionDirectories().isEmpty else { return }
        for directory in v1Directories.values { CgroupFS.removeDirectory(directory) }
        CgroupFS.removeDirectory(path)
    }
}
