import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Reading `/proc`. Any process may vanish between two reads: every reader returns nil for a
/// process that is gone rather than failing.
public enum ProcFS {
    public static func stat(_ pid: Int32) -> ProcStat? {
        guard let bytes = readFile("/proc/\(pid)/stat", limit: 4096) else { return nil }
        return ProcStat(parsing: bytes)
    }

    /// The user that owns the process's `/proc` directory: its effective user.
    public static func owner(_ pid: Int32) -> uid_t? {
        var info = Glibc.stat()
        guard lstat("/proc/\(pid)", &info) == 0 else { return nil }
        return info.st_uid
    }

    /// The argument vector; empty for zombies and kernel threads.
    public static func commandLine(_ pid: Int32) -> [String]? {
        guard let bytes = readFile("/proc/\(pid)/cmdline", limit: 64 * 1024) else { return nil }
        return bytes.split(separator: 0, omittingEmptySubsequences: false)
            .map { String(decoding: $0, as: UTF8.self) }
            .dropLastEmpty()
    }

    /// The process's initial environment.
    public static func environment(_ pid: Int32) -> [String: String]? {
        guard let bytes = readFile("/proc/\(pid)/environ", limit: 1 << 20) else { return nil }
        var variables: [String: String] = [:]
        for entry in bytes.split(separator: 0) {
            guard let equals = entry.firstIndex(of: UInt8(ascii: "=")) else { continue }
            variables[String(decoding: entry[..<equals], as: UTF8.self)] = String(decoding: entry[(equals + 1)...], as: UTF8.self)
        }
        return variables
    }

    /// Resident memory (RSS) in bytes, from /proc/PID/statm.
    public static func residentBytes(_ pid: Int32) -> UInt64? {
        guard let bytes = readFile("/proc/\(pid)/statm", limit: 256) else { return nil }
        let fields = bytes.split(separator: UInt8(ascii: " "))
        guard fields.count >= 2, let pages = UInt64(String(decoding: fields[1], as: UTF8.self)) else { return nil }
        return pages * UInt64(sysconf(Int32(_SC_PAGESIZE)))
    }

    /// Proportional set size (PSS) in bytes: each page the process maps counted divided by the
    /// number of processes mapping it, from `/proc/PID/smaps_rollup` (the kernel walks the page
    /// tables for it: costlier than RSS). What a process sharing copy-on-write pages with a
    /// template really costs.
    public static func proportionalBytes(_ pid: Int32) -> UInt64? {
        guard let bytes = readFile("/proc/\(pid)/smaps_rollup", limit: 8192) else { return nil }
        for line in bytes.split(separator: UInt8(ascii: "\n")) where line.starts(with: Array("Pss:".utf8)) {
            let digits = line.dropFirst(4).filter { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
            return UInt64(String(decoding: digits, as: UTF8.self)).map { $0 * 1024 }
        }
        return nil
    }

    /// One variable of the process's initial environment, or nil if unset or unreadable.
    public static func environmentValue(_ pid: Int32, _ name: String) -> String? {
        guard let bytes = readFile("/proc/\(pid)/environ", limit: 1 << 20) else { return nil }
        let prefix = Array((name + "=").utf8)
        for entry in bytes.split(separator: 0) where entry.starts(with: prefix) {
            return String(decoding: entry.dropFirst(prefix.count), as: UTF8.self)
        }
        return nil
    }

    /// Whether `pid` is in the cgroup v2 directory `cgroupPath` (an absolute path under the v2
    /// mount) or in one below it.
    public static func isInCgroup(_ pid: Int32, cgroupPath: String) -> Bool {
        guard let relative = cgroupV2(of: pid) else { return false }
        // In it, or in a cgroup below it: an agent running as root may move itself into one it
        // made inside its session's.
        var candidate = Substring(relative)
        while !candidate.isEmpty, candidate != "/" {
            if cgroupPath.hasSuffix(candidate) { return true }
            candidate = candidate[..<(candidate.lastIndex(of: "/") ?? candidate.startIndex)]
        }
        return false
    }

    /// The process's cgroup in the v2 hierarchy, as `/proc/PID/cgroup` shows it (relative to the
    /// mount: `/corral/s-call-7`).
    public static func cgroupV2(of pid: Int32) -> String? {
        guard let text = readFile("/proc/\(pid)/cgroup", limit: 64 * 1024).map({ String(decoding: $0, as: UTF8.self) }) else { return nil }
        return text.split(separator: "\n").first(where: { $0.hasPrefix("0::") }).map { String($0.dropFirst(3)) }
    }

    /// Every pid in /proc: a full scan, whose cost grows with every process on the host.
    public static func allPIDs() -> [Int32] {
        scanCounter?.count()
        return DirectoryEntries.names("/proc").compactMap { Int32($0) }
    }

    /// Counts the full scans (`allPIDs`) made by the task it is bound to, so that a test can
    /// check that a path reads only the processes it needs.
    @TaskLocal static var scanCounter: ScanCounter?

    /// Whether this kernel lists a process's children (`/proc/PID/task/TID/children`,
    /// CONFIG_PROC_CHILDREN, on in the common distributions' kernels).
    public static let listsChildren: Bool = access("/proc/self/task/\(Syscall.currentPID)/children", R_OK) == 0

    /// Direct children of `pid` (of all its threads); empty once it is gone.
    public static func children(of pid: Int32) -> [Int32] {
        var children: [Int32] = []
        for tid in DirectoryEntries.names("/proc/\(pid)/task") {
            guard Int32(tid) != nil, let bytes = readFile("/proc/\(pid)/task/\(tid)/children", limit: 1 << 22)
            else { continue }
            for field in bytes.split(separator: UInt8(ascii: " ")) {
                if let child = Int32(String(decoding: field, as: UTF8.self)) { children.append(child) }
            }
        }
        return children
    }

    /// Direct children of the current process (all of its threads).
    public static func childrenOfCurrentProcess() -> [Int32] {
        children(of: getpid())
    }

    /// Reads a whole (small) file with plain syscalls; nil if it cannot be opened.
    public static func readFile(_ path: String, limit: Int) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { Syscall.close(fd) }
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while result.count < limit {
            let got = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if got < 0 {
                if errno == EINTR { continue }
                return result.isEmpty ? nil : result
            }
            if got == 0 { break }
            result.append(contentsOf: chunk[0..<got])
        }
        return result
    }
}

extension Array where Element == String {
    fileprivate func dropLastEmpty() -> [String] {
        last == "" ? Array(dropLast()) : self
    }
}

/// How many full scans of /proc were made (see `ProcFS.scanCounter`).
package final class ScanCounter: Sendable {
    private let scans = Atomic<Int>(0)

    var value: Int { scans.load(ordering: .relaxed) }

    func count() { scans.add(1, ordering: .relaxed) }
}
