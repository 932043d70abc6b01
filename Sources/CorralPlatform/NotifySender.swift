/// Who sent a datagram on the notify socket, read from /proc as the datagram is received.
///
/// A sender may be gone by the time its message is matched to a session: `systemd-notify` run by
/// an agent of another user (or without the privilege to send its parent's pid) sends with its
/// own pid, waits only until the datagram after it (`BARRIER=1`, with a descriptor corral closes)
/// is read, and exits; its shell reaps it at once. So what places it in a session is read here,
/// before the socket's next datagram is received, while it still waits.
public struct NotifySender: Sendable, Equatable {
    /// The pid the kernel vouches for (0 if unknown).
    public let pid: Int32
    /// Its kernel session id: the leader's pid for every process an agent starts.
    public let sessionLeader: Int32?
    /// The init of the pid namespace it is in, if it is not in corral's.
    public let namespaceInit: Int32?
    /// Its cgroup v2 path (a fork places itself in its session's before corral knows its pid).
    public let cgroup: String?

    public init(pid: Int32, sessionLeader: Int32?, namespaceInit: Int32?, cgroup: String?) {
        self.pid = pid
        self.sessionLeader = sessionLeader
        self.namespaceInit = namespaceInit
        self.cgroup = cgroup
    }

    /// The pid alone, nothing read: a sender placed only if it is a session's leader.
    public init(pid: Int32) {
        self.init(pid: pid, sessionLeader: nil, namespaceInit: nil, cgroup: nil)
    }

    /// Whether `message` says READY=1 (a line of its own): only then is the sender worth placing
    /// beyond its pid.
    public static func saysReady(_ message: String) -> Bool {
        message.split(whereSeparator: \.isNewline).contains("READY=1")
    }

    /// Reads `pid`'s session, namespace and cgroup now.
    public static func read(_ pid: Int32) -> NotifySender {
        guard pid > 0 else { return NotifySender(pid: pid) }
        return NotifySender(
            pid: pid, sessionLeader: ProcFS.stat(pid)?.sid, namespaceInit: ProcFS.sessionNamespaceInit(of: pid), cgroup: ProcFS.cgroupV2(of: pid)
        )
    }
}
