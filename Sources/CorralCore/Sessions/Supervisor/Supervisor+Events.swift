import CorralPlatform
import Foundation
import Logging
import CorralStore

/// What other threads tell the supervisor, in the order they told it: a leader spawned, a leader
/// exited, a datagram on the notify socket.
extension Supervisor {
    func handle(_ event: Event) {
        switch event {
        case .leaderStarted(let id, let instance, let pid):
            table.leaderStarted(pid, for: id, instance: instance)
        case .leaderExited(let id, let instance, let status):
            leaderExited(id, instance: instance, status: status)
        case .notification(let sender, let message):
            notification(from: sender, message: message)
        case .templateFailed(let id, let instance, let failure):
            templateChannelFailed(id, instance: instance, failure)
        }
    }

    private func leaderExited(_ id: SessionID, instance: UInt64, status: ExitStatus) {
        guard let entry = table.resolve(id, instance: instance) else { return }
        entry.handles.leaderExit = status
        guard !entry.isStopping else { return }
        // An agent killed by the kernel for going over its memory, or that exited once a fork was
        // refused at its pids limit (most do, with EAGAIN), did not just exit.
        if let violation = entry.handles.tree?.limitViolation() {
            logger.about(entry.record).warning(
                violation == .memory
                    ? "agent was killed by the kernel for going over its memory limit; ending its session"
                    : "agent exited after the kernel refused it a process over its pids limit; ending its session",
                metadata: [LogKey.exit: "\(status)", "limit": "\(EndReason(violation).name)"]
            )
            handle(.limitExceeded(violation), for: entry)
            return
        }
        logger.about(entry.record).notice("agent exited by itself; ending what is left of its session", metadata: [LogKey.exit: "\(status)"])
        handle(.leaderExited(status), for: entry)
    }

    /// A datagram on the notify socket (systemd's protocol: newline-separated `KEY=VALUE`). The
    /// sender is matched to a session by its pid, or by its kernel session id, which is the
    /// leader's pid for every process the agent starts; in a session with a pid namespace of its
    /// own (whose leader is the namespace's init), by the namespace it is in (the kernel gives the
    /// sender's pid as corral sees it, from whatever namespace it sent); for a fork whose pid corral
    /// has not heard yet (it may speak before its template answers), by the cgroup it placed itself
    /// in. All but the pid were read as the datagram arrived (`NotifySender`), for a READY=1 only:
    /// another message (a STATUS=) is heard from a session's leader alone.
    private func notification(from sender: NotifySender, message: String) {
        guard
            let entry = table.owner(ofLeader: sender.pid) ?? sender.sessionLeader.flatMap({ table.owner(ofLeader: $0) })
                ?? sender.namespaceInit.flatMap({ table.owner(ofLeader: $0) }) ?? forking(sender.cgroup)
        else {
            logger.debug("notify message from a process that belongs to no session; ignored", metadata: [LogKey.pid: "\(sender.pid)"])
            return
        }
        for line in message.split(whereSeparator: \.isNewline) {
            let parts = line.split(separator: "=", maxSplits: 1)
            guard parts.count == 2 else { continue }
            switch (parts[0], parts[1]) {
            case ("READY", "1"):
                guard let current = table.resolve(entry.id, instance: entry.instance) else { return }
                if current.lifecycle.status == .starting {
                    if current.isIdle {
                        idleAgentReady(current)
                    } else if current.isTemplate {
                        templateReady(current)
                    } else {
                        logger.about(current.record).info("agent ready")
                        // Ready before its start was answered: `session.started` says `running`.
                        if current.announced { events.publish(.ready, session: current.record) }
                    }
                }
                handle(.ready, for: current)
            case ("STATUS", let text):
                entry.handles.statusText = String(text)
                logger.about(entry.record).debug("agent status", metadata: ["status": "\(text)"])
            default:
                continue  // WATCHDOG=1, STOPPING=1, MAINPID=… are understood and need nothing here
            }
        }
    }

    /// The fork under way whose cgroup this is (the cgroup is named for the session).
    private func forking(_ cgroup: String?) -> SessionTable.Entry? {
        guard let cgroup, let name = cgroup.split(separator: "/").last, name.hasPrefix(SessionCgroup.prefix),
            let id = SessionID(String(name.dropFirst(SessionCgroup.prefix.count))), let entry = table.entries[id],
            let expected = entry.handles.forkCgroup, cgroup == expected
        else { return nil }
        return entry
    }
}
