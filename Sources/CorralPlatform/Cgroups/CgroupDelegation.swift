import CCorralShims

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A cgroup a service manager delegated to corral (systemd's `Delegate=yes`, which marks the
/// unit's cgroup with the `trusted.delegate` or `user.delegate` extended attribute).
///
/// cgroup v2 lets no process live in a cgroup that hands controllers down to its children, and
/// systemd 252 (Debian 12's, without `DelegateSubgroup=`) starts corral in the delegated cgroup
/// itself. So corral moves into a leaf of it, `supervisor`, before giving the memory, pids and cpu
/// controllers to the subtree; the sessions' root, `corral`, sits beside that leaf.
///
/// The same rule bites the other way when corral stops with sessions left running (`shutdown:
/// detach`, a crash): systemd cannot start the next corral in a cgroup that hands controllers
/// down, and has populated children. `release()`, run as the unit's `ExecStopPost=` (which
/// systemd places in a `.control` leaf of the delegated cgroup), hands them back first.
public struct CgroupDelegation: Sendable, Equatable {
    /// The delegated cgroup's directory, e.g. `/sys/fs/cgroup/system.slice/corral.service`.
    public let directory: String

    public static let supervisorLeaf = "supervisor"
    public static let rootName = "corral"

    public var supervisorDirectory: String { directory + "/" + Self.supervisorLeaf }
    /// Where sessions' cgroups go unless `cgroup_root` says otherwise.
    public var defaultRoot: String { directory + "/" + Self.rootName }

    /// The delegated cgroup corral runs in: its own cgroup, or the one its own cgroup is a child
    /// of (after the move into `supervisor`, or as a control process in `.control`).
    public static func find(host: CgroupHost) -> CgroupDelegation? {
        guard let own = host.v2OwnDirectory, let mount = host.v2Mount else { return nil }
        if isDelegated(own) { return CgroupDelegation(directory: own) }
        guard own != mount, let slash = own.lastIndex(of: "/") else { return nil }
        let parent = String(own[..<slash])
        return parent.hasPrefix(mount + "/") && isDelegated(parent) ? CgroupDelegation(directory: parent) : nil
    }

    /// Whether the service manager marked `directory` as delegated.
    public static func isDelegated(_ directory: String) -> Bool {
        ["trusted.delegate", "user.delegate"].contains { attribute(directory, $0) == "1" }
    }

    private static func attribute(_ path: String, _ name: String) -> String? {
        var buffer = [UInt8](repeating: 0, count: 16)
        let length = getxattr(path, name, &buffer, buffer.count)
        guard length >= 0 else { return nil }
        return String(decoding: buffer.prefix(length), as: UTF8.self)
    }

    /// Whether corral already runs in the leaf (it moved there earlier in this process).
    public func isInLeaf(host: CgroupHost) -> Bool { host.v2OwnDirectory == supervisorDirectory }

    /// Moves this process (every thread of it) into the `supervisor` leaf and enables the limit
    /// controllers the delegated cgroup has for its children. Returns the controllers enabled;
    /// one that cannot be enabled (a process the service manager left beside corral) is reported
    /// in `refused`, and corral carries on with what it has.
    public func takeOver() throws(CorralError) -> (enabled: Set<String>, refused: [String: SystemError]) {
        do {
            // Left by the corral before, whose process has gone from it.
            if !CgroupFS.exists(supervisorDirectory + "/cgroup.procs") { try CgroupFS.makeDirectory(supervisorDirectory) }
            try CgroupFS.write("0", to: supervisorDirectory + "/cgroup.procs")
        } catch {
            throw CorralError(.system, "cannot move corral into the leaf cgroup \(supervisorDirectory) of its delegated cgroup", underlying: error)
        }
        var enabled = Set<String>()
        var refused: [String: SystemError] = [:]
        let available = CgroupHost.availableControllers(at: directory)
        for controller in CgroupHost.limitControllers where available.contains(controller) {
            do {
                try CgroupFS.write("+\(controller)", to: directory + "/cgroup.subtree_control")
                enabled.insert(controller)
            } catch {
                refused[controller] = error
            }
        }
        return (enabled, refused)
    }

    /// Whether `root` (a sessions' root) lies in the delegated cgroup, where the controllers
    /// corral hands down reach it.
    public func contains(_ root: String) -> Bool { root.hasPrefix(directory + "/") }

    /// Disables every controller handed down anywhere in the delegated cgroup, deepest first (a
    /// parent cannot take back what a child hands on), the delegated cgroup itself last. It needs
    /// no configuration: it runs after a stop, when the configuration may be half-edited or name
    /// files the stopped unit no longer sees. Sessions keep running, without cgroup limits until
    /// the next corral adopts them and writes their limits again. Returns what could not be
    /// released, by cgroup.
    public func release() -> [(cgroup: String, error: SystemError)] {
        var failures: [(String, SystemError)] = []
        // Breadth-first, reversed: children before their parents, the delegated cgroup last.
        for cgroup in CgroupFS.subtree(directory).reversed() {
            let enabled = (CgroupFS.read(cgroup + "/cgroup.subtree_control") ?? "").split(whereSeparator: \.isWhitespace)
            guard !enabled.isEmpty else { continue }
            do {
                try CgroupFS.write(enabled.map { "-\($0)" }.joined(separator: " "), to: cgroup + "/cgroup.subtree_control")
            } catch {
                failures.append((cgroup, error))
            }
        }
        return failures
    }
}
