#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Reading and writing cgroup interface files. Each write is one `write(2)`, as the kernel
/// expects for these files.
package enum CgroupFS {
    package static func read(_ path: String) -> String? {
        ProcFS.readFile(path, limit: 1 << 20).map { String(decoding: $0, as: UTF8.self) }
    }

    static func write(_ value: String, to path: String) throws(SystemError) {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw SystemError("open(\(path))", errno: errno) }
        defer { Syscall.close(fd) }
        let bytes = Array(value.utf8)
        let written = try Syscall.libc("write(\(path), \(value))") { bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) } }
        guard written == bytes.count else { throw SystemError("write(\(path))", errno: EIO) }
    }

    package static func exists(_ path: String) -> Bool {
        access(path, F_OK) == 0
    }

    /// The names of the cgroups directly below `path`.
    package static func subdirectories(_ path: String) -> [String] {
        DirectoryEntries.read(path).filter(\.isDirectory).map(\.name)
    }

    /// `path` and every cgroup below it (the first `limit` of them), each before the cgroups
    /// below it.
    static func subtree(_ path: String, limit: Int = .max) -> [String] {
        var found = [path]
        var index = 0
        while index < found.count, found.count < limit {
            let parent = found[index]
            found += subdirectories(parent).prefix(limit - found.count).map { parent + "/" + $0 }
            index += 1
        }
        return found
    }

    /// The processes in `path` and in every cgroup below it (the first `cgroupLimit` cgroups,
    /// breadth first).
    package static func processes(inSubtree path: String, cgroupLimit: Int = .max) -> [Int32] {
        subtree(path, limit: cgroupLimit).flatMap { pids($0 + "/cgroup.procs") }
    }

    /// `key value` lines (cgroup.events, memory.events, pids.events, memory.oom_control).
    static func keyValues(_ path: String) -> [String: Int64] {
        var values: [String: Int64] = [:]
        for line in (read(path) ?? "").split(separator: "\n") {
            let fields = line.split(separator: " ")
            if fields.count == 2, let value = Int64(fields[1]) { values[String(fields[0])] = value }
        }
        return values
    }

    /// The pids listed in a `cgroup.procs` file.
    package static func pids(_ path: String) -> [Int32] {
        (read(path) ?? "").split(separator: "\n").compactMap { Int32($0) }
    }

    static func makeDirectory(_ path: String) throws(SystemError) {
        if mkdir(path, 0o755) != 0 { throw SystemError("mkdir(\(path))", errno: errno) }
    }

    /// Removes an (empty) cgroup directory; a cgroup whose last process has just exited may
    /// report EBUSY for a moment.
    @discardableResult
    package static func removeDirectory(_ path: String) -> Bool {
        for _ in 0..<50 {
            if rmdir(path) == 0 || errno == ENOENT { return true }
            guard errno == EBUSY else { return false }
            usleep(2000)
        }
        return false
    }
}
