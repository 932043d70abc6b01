import Foundation
import Logging

extension Supervisor {
    func handle(_ event: Event) {
        switch event {
        case .leaderExited(let id, let instance, let status):
            leaderExited(id, instance: instance, status: status)
        case .notification(let pid, let message):
            notification(from: pid, message: message)
        }
    }

    private func leaderExited(_ id: SessionID, instance: UInt64, status: ExitStatus) {
        guard let session = live(id, instance: instance) else { return }
        session.leaderExit = status
        guard !session.lifecycle.isStopping else { return }
        // An agent killed by the kernel for going over a limit did not just exit.
        if let violation = session.tree?.limitViolation() {
            logger.about(session.record).warning(
                "agent was killed for going over its limit; ending its session",
                metadata: [LogKey.exit: "\(status)", "limit": "\(EndReason(violation).name)"]
            )
            perform(session.lifecycle.handle(.limitExceeded(violation)), for: session)
            return
        }
        logger.about(session.record).notice("agent exited by itself; ending what is left of its session", metadata: [LogKey.exit: "\(status)"])
        perform(session.lifecycle.handle(.leaderExited(status)), for: session)
    }

    /// A datagram on the notify socket (systemd's protocol: newline-separated `KEY=VALUE`). The
    /// sender is matched to a session by its pid, or by its kernel session id, which is the
    /// leader's pid for every process the agent starts.
    private func notification(from pid: Int32, message: String) {
        let id = sessionsByLeader[pid] ?? ProcFS.stat(pid).flatMap { sessionsByLeader[$0.sid] }
        guard let id, let session = sessions[id] else {
            logger.debug("notify message from a process that belongs to no session; ignored", metadata: [LogKey.pid: "\(pid)"])
            return
        }
        for line in message.split(whereSeparator: \.isNewline) {
            let parts = line.split(separator: "=", maxSplits: 1)
            guard parts.count == 2 else { continue }
            switch (parts[0], parts[1]) {
            case ("READY", "1"):
                if session.isIdle {
                    if session.lifecycle.status == .starting { idleAgentReady(session) }
                } else if session.lifecycle.status == .starting {
                    logger.about(session.record).info("agent ready")
                    events.publish(.ready, session: session.record)
                }
                perform(session.lifecycle.handle(.ready), for: session)
            case ("STATUS", let text):
                session.statusText = String(text)
                logger.about(session.record).debug("agent status", metadata: ["status": "\(text)"])
            default:
                continue  // WATCHDOG=1, STOPPING=1, MAINPID=… are understood and need nothing here
            }
        }
    }
}
