#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Limits a profile asks for.
public struct ResourceLimits: Sendable, Equatable {
    public var memoryBytes: UInt64?
    public var pids: Int?
    /// In cores (0.5 = half a core).
    public var cpu: Double?

    public init(memoryBytes: UInt64? = nil, pids: Int? = nil, cpu: Double? = nil) {
        self.memoryBytes = memoryBytes
        self.pids = pids
        self.cpu = cpu
    }

    public var isEmpty: Bool { memoryBytes == nil && pids == nil && cpu == nil }
}

/// Why a session broke its limits.
public enum LimitViolation: Sendable, Equatable {
    case memory
    case pids
}

/// One session's cgroup v2 directory (and v1 directories for limits). Nothing the agent starts
/// can leave it; `populated 0` in `cgroup.events` means nothing of the session is left.
public final class SessionCgroup: Sendable {
    package static let prefix = "s-"

    public let path: String
    /// Relative to the v2 mount, as `/proc/PID/cgroup` shows it.
    package let relativePath: String
    package let v1Paths: [String: String]
    /// The root that knows this cgroup as its own (one this corral made).
    private let madeIn: CgroupRoot?

    var name: String { String(path.split(separator: "/").last ?? "") }

    /// Creates the session's cgroups and writes the limits. A leftover empty cgroup with the same
    /// name is replaced; a populated one is refused. With `ownMemory`, a v1 memory cgroup is made
    /// without a limit too (where v1 counts memory), so that what the session's processes add is
    /// charged to it, not to wherever they came from (a template's forks).
    package init(root: CgroupRoot, sessionID: SessionID, limits: ResourceLimits, ownMemory: Bool = false) throws(CorralError) {
        let name = Self.prefix + sessionID.rawValue
        let path = root.path + "/" + name
        root.claim(name)
        if mkdir(path, 0o755) != 0 {
            guard errno == EEXIST, CgroupFS.removeDirectory(path), mkdir(path, 0o755) == 0 else {
                let error = SystemError("mkdir", errno: errno)
                root.disclaim(name)
                throw CorralError(.spawnFailed, "cannot create the session cgroup \(path) (a process from an earlier session may still be in it)", underlying: error)
            }
        }
        self.madeIn = root
        self.path = path
        self.relativePath = String(path.dropFirst(root.host.v2Mount?.count ?? 0))
        var v1Paths: [String: String] = [:]
        for (controller, directory) in root.v1Directories {
            let wanted =
                switch controller {
                case "memory": limits.memoryBytes != nil || ownMemory
                case "pids": limits.pids != nil
                case "cpu": limits.cpu != nil
                default: false
                }
            guard wanted else { continue }
            let v1Path = directory + "/" + name
            if mkdir(v1Path, 0o755) == 0 || (errno == EEXIST) { v1Paths[controller] = v1Path }
        }
        self.v1Paths = v1Paths
        do {
            try apply(limits, root: root)
        } catch {
            remove()
            throw error
        }
    }

    /// Whether `path` names a session cgroup directly below `root`: the only cgroups corral may
    /// signal or remove on a record's word (a path from the store could name any other).
    /// Whether `path` is shaped as corral names a session's cgroup (`…/s-<session id>`, absolute,
    /// no `..`), below whatever root: what a record names that a corral with another cgroup root
    /// wrote (or one with cgroups, read by one without). Such a cgroup is never acted on (every
    /// action takes one `isSession` below this corral's root); it only says where the leader was.
    package static func isSessionShaped(_ path: String) -> Bool {
        let parts = path.split(separator: "/")
        guard path.hasPrefix("/"), !parts.contains(".."), let name = parts.last, name.hasPrefix(prefix) else { return false }
        return SessionID(String(name.dropFirst(prefix.count))) != nil
    }

    package static func isSession(_ path: String, below root: CgroupRoot) -> Bool {
        guard path.hasPrefix(root.path + "/") else { return false }
        let name = path.dropFirst(root.path.count + 1)
        return name.hasPrefix(prefix) && SessionID(String(name.dropFirst(prefix.count))) != nil
    }

    /// An existing session cgroup (left by an earlier corral) below `root`, or nil if it is gone
    /// or `path` is not a session cgroup of that root.
    package init?(adopting path: String, root: CgroupRoot) {
        guard Self.isSession(path, below: root), CgroupFS.exists(path + "/cgroup.procs") else { return nil }
        self.path = path
        self.relativePath = String(path.dropFirst(root.host.v2Mount?.count ?? 0))
        let name = String(path.split(separator: "/").last ?? "")
        var v1Paths: [String: String] = [:]
        for (controller, directory) in root.v1Directories where CgroupFS.exists(directory + "/" + name) {
            v1Paths[controller] = directory + "/" + name
        }
        self.v1Paths = v1Paths
        self.madeIn = nil
    }

    /// The cgroup's directory, opened for the spawn to start the agent inside. Held only while
    /// spawning: 10,000 sessions must not cost 10,000 descriptors.
    package func withDescriptor<T, E: Error>(_ body: (Int32) throws(E) -> T) throws(E) -> T {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        defer { if fd >= 0 { Syscall.close(fd) } }
        return try body(fd)
    }

    /// Kills everything in the cgroup (identity-safe by construction), waits for it to be empty
    /// (bounded), and removes it.
    package func killAndRemove() {
        let deadline = ContinuousClock.now + .seconds(5)
        while isPopulated && ContinuousClock.now < deadline {
            if !kill() {
                for pid in processes {
                    guard let pidFD = try? PidFD.open(pid: pid) else { continue }
                    if contains(pid) { _ = try? pidFD.signal(SIGKILL) }
                    pidFD.close()
                }
            }
            usleep(2000)
        }
        remove()
    }

    /// Writes `limits` (again, for an adopted session: writing a limit it has is harmless).
    package func apply(_ limits: ResourceLimits, root: CgroupRoot) throws(CorralError) {
        do {
            if let bytes = limits.memoryBytes {
                if root.v2Controllers.contains("memory") {
                    try CgroupFS.write(String(bytes), to: path + "/memory.max")
                    // The whole session goes together on OOM, not one random process.
                    try? CgroupFS.write("1", to: path + "/memory.oom.group")
                    try? CgroupFS.write("0", to: path + "/memory.swap.max")
                } else if let v1 = v1Paths["memory"] {
                    try CgroupFS.write(String(bytes), to: v1 + "/memory.limit_in_bytes")
                    if CgroupFS.exists(v1 + "/memory.memsw.limit_in_bytes") {
                        try? CgroupFS.write(String(bytes), to: v1 + "/memory.memsw.limit_in_bytes")
                    }
                }
            }
            if let pids = limits.pids {
                if root.v2Controllers.contains("pids") {
                    try CgroupFS.write(String(pids), to: path + "/pids.max")
                } else if let v1 = v1Paths["pids"] {
                    try CgroupFS.write(String(pids), to: v1 + "/pids.max")
                }
            }
            if let cpu = limits.cpu {
                let period = 100_000
                let quota = max(1000, Int((cpu * Double(period)).rounded()))
                if root.v2Controllers.contains("cpu") {
                    try CgroupFS.write("\(quota) \(period)", to: path + "/cpu.max")
                } else if let v1 = v1Paths["cpu"] {
                    try CgroupFS.write(String(period), to: v1 + "/cpu.cfs_period_us")
                    try CgroupFS.write(String(quota), to: v1 + "/cpu.cfs_quota_us")
                }
            }
        } catch {
            throw CorralError(.spawnFailed, "cannot set the session's limits in \(path)", underlying: error)
        }
    }

    /// Moves a process into the session's v1 cgroups, and into the v2 one if `includingV2`.
    package func attach(_ pid: Int32, includingV2: Bool) throws(CorralError) {
        do {
            if includingV2 { try CgroupFS.write(String(pid), to: path + "/cgroup.procs") }
            for v1 in v1Paths.values { try CgroupFS.write(String(pid), to: v1 + "/cgroup.procs") }
        } catch {
            throw CorralError(.spawnFailed, "cannot move the agent into its cgroups", underlying: error)
        }
    }

    package var needsAttachForLimits: Bool { !v1Paths.isEmpty }

    /// Its processes, and those of the cgroups an agent made inside it (one running as root can):
    /// `populated` and `cgroup.kill` take them in, and so must signals and listings.
    package var processes: [Int32] { CgroupFS.processes(inSubtree: path) }

    package var isPopulated: Bool {
        // If the file cannot be read the cgroup is gone, and so is everything in it.
        CgroupFS.keyValues(path + "/cgroup.events")["populated"].map { $0 != 0 } ?? false
    }

    package var eventsFile: String { path + "/cgroup.events" }

    /// True if `pid` is (still) in this cgroup.
    package func contains(_ pid: Int32) -> Bool {
        guard let text = CgroupFS.read("/proc/\(pid)/cgroup") else { return false }
        return text.split(separator: "\n").contains { $0 == "0::\(relativePath)" || $0.hasPrefix("0::\(relativePath)/") }
    }

    /// True if `pid` is in each of the session's v1 cgroups.
    package func containsInV1(_ pid: Int32) -> Bool {
        guard !v1Paths.isEmpty else { return true }
        let lines = (CgroupFS.read("/proc/\(pid)/cgroup") ?? "").split(separator: "\n")
        return v1Paths.allSatisfy { controller, path in
            lines.contains { line in
                let fields = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
                return fields.count == 3 && fields[1].split(separator: ",").contains(Substring(controller)) && path.hasSuffix(String(fields[2]))
                    && fields[2].hasSuffix("/" + name)
            }
        }
    }

    /// The `cgroup.procs` of the v2 cgroup, then of each v1 cgroup, opened for writing: a process
    /// given them joins the session by writing `0` to each (the kernel checks the opener's
    /// credentials, corral's, not the writer's). Closed again if one cannot be opened.
    package func openProcs() throws(CorralError) -> [Int32] {
        var descriptors: [Int32] = []
        for directory in [path] + v1Paths.keys.sorted().map({ v1Paths[$0]! }) {
            let fd = open(directory + "/cgroup.procs", O_WRONLY | O_CLOEXEC)
            guard fd >= 0 else {
                let error = SystemError("open(\(directory)/cgroup.procs)", errno: errno)
                descriptors.forEach(Syscall.close)
                throw CorralError(.spawnFailed, "cannot open the session's cgroup for a fork to join", underlying: error)
            }
            descriptors.append(fd)
        }
        return descriptors
    }

    /// SIGKILLs everything in the cgroup at once (kernel 5.14+); false if `cgroup.kill` is missing.
    package func kill() -> Bool {
        (try? CgroupFS.write("1", to: path + "/cgroup.kill")) != nil
    }

    /// A limit the kernel enforced (an OOM kill, a refused fork), if any.
    package func violation() -> LimitViolation? {
        let memoryEvents = CgroupFS.keyValues(path + "/memory.events")
        if (memoryEvents["oom_kill"] ?? 0) > 0 || (memoryEvents["oom_group_kill"] ?? 0) > 0 { return .memory }
        if let v1 = v1Paths["memory"], (CgroupFS.keyValues(v1 + "/memory.oom_control")["oom_kill"] ?? 0) > 0 { return .memory }
        if (CgroupFS.keyValues(path + "/pids.events")["max"] ?? 0) > 0 { return .pids }
        if let v1 = v1Paths["pids"], (CgroupFS.keyValues(v1 + "/pids.events")["max"] ?? 0) > 0 { return .pids }
        return nil
    }

    /// Memory charged to the session, if a memory controller counts it.
    package func memoryBytes() -> UInt64? {
        if let text = CgroupFS.read(path + "/memory.current") { return UInt64(text.trimmingWhitespace) }
        if let v1 = v1Paths["memory"], let text = CgroupFS.read(v1 + "/memory.usage_in_bytes") { return UInt64(text.trimmingWhitespace) }
        return nil
    }

    /// Removes the cgroups, with any an agent made inside them (the innermost first); call once
    /// empty. The v1 twins go first: they are found by the v2 cgroup's name, so a corral stopped
    /// half-way must leave the v2 one, which the next corral adopts and removes with what is left.
    package func remove() {
        for directory in (v1Paths.values + [path]).flatMap({ CgroupFS.subtree($0).reversed() }) { CgroupFS.removeDirectory(directory) }
        madeIn?.disclaim(name)
    }
}

extension String {
    var trimmingWhitespace: Substring {
        var text = Substring(self)
        while let last = text.last, last.isWhitespace { text = text.dropLast() }
        while let first = text.first, first.isWhitespace { text = text.dropFirst() }
        return text
    }
}
