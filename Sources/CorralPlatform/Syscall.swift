import CCorralShims

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The thin layer over system calls: EINTR is retried here and errno becomes a `SystemError`.
/// Nothing outside `Platform/` calls into Glibc or the C shims for process control.
package enum Syscall {
    /// For libc calls that return -1 and set errno.
    @discardableResult
    static func libc<T: BinaryInteger>(_ name: String, _ body: () -> T) throws(SystemError) -> T {
        while true {
            let result = body()
            if result != -1 { return result }
            let code = errno
            if code != EINTR { throw SystemError(name, errno: code) }
        }
    }

    /// For shim calls that return 0 or an errno value.
    static func shim(_ name: String, _ body: () -> Int32) throws(SystemError) {
        while true {
            let code = body()
            if code == 0 { return }
            if code != EINTR { throw SystemError(name, errno: code) }
        }
    }

    package static func close(_ fd: Int32) {
        // close() must not be retried on EINTR on Linux: the descriptor is gone either way.
        _ = Glibc.close(fd)
    }

    package static var currentPID: Int32 { getpid() }

    /// Names the calling thread as `ps -L` and /proc show it (at most 15 bytes, the kernel's
    /// limit; Foundation's `Thread.name`, set before the thread starts, does not reach the
    /// kernel on Linux). corral's own threads are told apart from SwiftNIO's by it.
    package static func nameCurrentThread(_ name: String) {
        // Through /proc (a kernel interface file, one write): glibc's pthread_setname_np is not
        // visible to Swift.
        try? CgroupFS.write(String(decoding: name.utf8.prefix(15), as: UTF8.self), to: "/proc/thread-self/comm")
    }

    package static var hostName: String {
        var buffer = [UInt8](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count) == 0 else { return "" }
        return String(decoding: buffer.prefix { $0 != 0 }, as: UTF8.self)
    }

    package static var currentSessionID: Int32 { getsid(0) }

    /// The process group of `pid`, or nil if there is no such process.
    package static func processGroup(of pid: Int32) -> Int32? {
        let pgid = getpgid(pid)
        return pgid < 0 ? nil : pgid
    }

    /// Whether any process (zombies included) is still in group `pgid`.
    package static func processGroupExists(_ pgid: Int32) -> Bool {
        guard pgid > 1 else { return false }
        if Glibc.kill(-pgid, 0) == 0 { return true }
        return errno == EPERM
    }

    /// Sends `signal` to every process of group `pgid`. Returns false if the group is empty.
    @discardableResult
    package static func signalProcessGroup(_ pgid: Int32, _ signal: Int32) throws(SystemError) -> Bool {
        // A pgid of 0 or 1 would mean "our own group" or "everyone": never.
        precondition(pgid > 1, "refusing to signal process group \(pgid)")
        if Glibc.kill(-pgid, signal) == 0 { return true }
        if errno == ESRCH { return false }
        throw SystemError("kill(-\(pgid), \(signal))", errno: errno)
    }

    /// Whether process `pid` exists (zombies included).
    package static func processExists(_ pid: Int32) -> Bool {
        guard pid > 0 else { return false }
        if Glibc.kill(pid, 0) == 0 { return true }
        return errno == EPERM
    }

    package static func setChildSubreaper() throws(SystemError) {
        try shim("prctl(PR_SET_CHILD_SUBREAPER)") { corral_set_child_subreaper() }
    }

    package static func eventFD() throws(SystemError) -> Int32 {
        let fd = corral_eventfd()
        guard fd >= 0 else { throw SystemError("eventfd", errno: -fd) }
        return fd
    }

    /// Drains an eventfd so it stops being readable.
    package static func drainEventFD(_ fd: Int32) {
        var value: UInt64 = 0
        _ = withUnsafeMutableBytes(of: &value) { read(fd, $0.baseAddress, 8) }
    }

    package static func signalEventFD(_ fd: Int32) {
        var one: UInt64 = 1
        _ = withUnsafeBytes(of: &one) { write(fd, $0.baseAddress, 8) }
    }

    /// Raises the soft open-file limit to the hard limit: every session holds a pidfd.
    package static func raiseOpenFileLimit() -> UInt64? {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return nil }
        if limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max
            guard setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return nil }
        }
        return UInt64(limit.rlim_cur)
    }
}
