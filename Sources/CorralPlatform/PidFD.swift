import CCorralShims
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// An owned pidfd: a reference to one process that cannot be recycled, so signals sent through it
/// never reach another process that later got the same pid.
public final class PidFD: Sendable {
    public let pid: Int32
    private let state: Mutex<Int32>

    init(pid: Int32, adopting fd: Int32) {
        self.pid = pid
        self.state = Mutex(fd)
    }

    /// Opens a pidfd for an existing process.
    public static func open(pid: Int32) throws(SystemError) -> PidFD {
        var fd: Int32 = -1
        try Syscall.shim("pidfd_open(\(pid))") { corral_pidfd_open(pid, &fd) }
        return PidFD(pid: pid, adopting: fd)
    }

    /// The descriptor, for registering with epoll; -1 once closed.
    public var descriptor: Int32 { state.withLock { $0 } }

    /// Sends `signal`. Returns false if the process has already exited.
    @discardableResult
    public func signal(_ signal: Int32) throws(SystemError) -> Bool {
        let result: Int32 = state.withLock { fd in
            fd < 0 ? ESRCH : corral_pidfd_send_signal(fd, signal)
        }
        switch result {
        case 0: return true
        case ESRCH: return false
        default: throw SystemError("pidfd_send_signal(\(pid), \(signal))", errno: result)
        }
    }

    /// Reaps the process if it has exited and is corral's child. Returns nil while it runs;
    /// `.unknown` if it has exited but is not corral's child.
    public func reapIfExited() -> ExitStatus? {
        state.withLock { fd -> ExitStatus? in
            guard fd >= 0 else { return .unknown }
            var exited: Int32 = 0
            var code: Int32 = 0
            var status: Int32 = 0
            let result = corral_waitid_pidfd(fd, &exited, &code, &status)
            if result == ECHILD {
                // Not our child (adopted) or already reaped: ask the pidfd itself.
                var poll = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                return Glibc.poll(&poll, 1, 0) > 0 ? .unknown : nil
            }
            guard result == 0, exited != 0 else { return nil }
            return ExitStatus(siginfoCode: code, status: status)
        }
    }

    /// What a wait for the process finds.
    enum Wait: Equatable {
        case running
        /// It exited and corral reaped it: how it ended.
        case exited(ExitStatus)
        /// It exited, but another process is (or was) its parent: only that one learns how.
        case exitedElsewhere
    }

    /// Reaps the process if it has exited and is corral's child, telling apart a process that is
    /// still running from one whose status only its parent gets (a template's fork).
    func wait() -> Wait {
        state.withLock { fd -> Wait in
            guard fd >= 0 else { return .exitedElsewhere }
            var exited: Int32 = 0
            var code: Int32 = 0
            var status: Int32 = 0
            let result = corral_waitid_pidfd(fd, &exited, &code, &status)
            if result == ECHILD {
                var poll = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                return Glibc.poll(&poll, 1, 0) > 0 ? .exitedElsewhere : .running
            }
            guard result == 0, exited != 0 else { return .running }
            return .exited(ExitStatus(siginfoCode: code, status: status))
        }
    }

    /// A pidfd another process sent (a template's fork), owned from now on. Its pid is the
    /// kernel's (`Pid:` in `/proc/self/fdinfo/FD`), never the sender's word; nil (and the
    /// descriptor closed) if it is not a pidfd of a live process in corral's pid namespace.
    static func adopting(received fd: Int32) -> PidFD? {
        let info = ProcFS.readFile("/proc/self/fdinfo/\(fd)", limit: 4096).map { String(decoding: $0, as: UTF8.self) } ?? ""
        let line = info.split(separator: "\n").first { $0.hasPrefix("Pid:") }
        guard let pid = line.flatMap({ Int32(String($0.dropFirst(4)).trimmingWhitespace) }), pid > 0 else {
            Syscall.close(fd)
            return nil
        }
        return PidFD(pid: pid, adopting: fd)
    }

    /// True once the process has exited (a pidfd becomes readable then), reaped or not.
    public var hasExited: Bool {
        state.withLock { fd in
            guard fd >= 0 else { return true }
            var poll = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            return Glibc.poll(&poll, 1, 0) > 0
        }
    }

    public func close() {
        state.withLock { fd in
            if fd >= 0 { Syscall.close(fd) }
            fd = -1
        }
    }

    deinit {
        let fd = state.withLock { $0 }
        if fd >= 0 { Syscall.close(fd) }
    }
}

extension PidFD {
    /// Kills the process and waits for it, for a child that must not outlive a failed start.
    package func killAndReap() {
        _ = try? signal(SIGKILL)
        let fd = descriptor
        guard fd >= 0 else { return }
        var poll = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        while Glibc.poll(&poll, 1, -1) < 0 && errno == EINTR {}
        _ = reapIfExited()
    }
}
