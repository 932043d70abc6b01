import CCorralShims

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The service manager that runs corral itself (systemd with `Type=notify`), as its environment
/// describes it: where to report readiness and state (`NOTIFY_SOCKET`) and how often to show
/// that corral is alive (`WATCHDOG_USEC`). Agents never inherit these variables
/// (`AgentCommand.variables`), so this is only ever corral speaking for itself.
public struct ServiceManager: Sendable {
    /// `NOTIFY_SOCKET`: a path, or `@name` in the abstract namespace.
    public let notifySocket: String?
    /// Half of `WATCHDOG_USEC`, as systemd asks, when the watchdog is on and meant for this
    /// process (`WATCHDOG_PID`, when set, names it).
    public let watchdogInterval: Duration?
    /// Whether systemd started this process (`INVOCATION_ID` is set for every unit it runs).
    public let isSystemd: Bool

    public init(environment: [String: String], pid: Int32 = getpid()) {
        let socket = environment["NOTIFY_SOCKET"].flatMap { $0.hasPrefix("/") || $0.hasPrefix("@") ? $0 : nil }
        notifySocket = socket
        isSystemd = environment["INVOCATION_ID"].map { !$0.isEmpty } ?? false
        let forThisProcess = environment["WATCHDOG_PID"].map { Int32($0) == pid } ?? true
        if socket != nil, forThisProcess, let usec = environment["WATCHDOG_USEC"].flatMap(UInt64.init), usec > 0 {
            watchdogInterval = .microseconds(Int64(clamping: usec / 2))
        } else {
            watchdogInterval = nil
        }
    }

    /// Sends `fields` (`READY=1`, `STATUS=…`) as one datagram. A manager that is gone is not
    /// corral's failure: the error is returned for a log line, never thrown.
    @discardableResult
    public func notify(_ fields: [String]) -> SystemError? {
        guard let socket = notifySocket, !fields.isEmpty else { return nil }
        // A newline inside a value would start a field of its own.
        let message = fields.map { $0.replacingNewlines() }.joined(separator: "\n")
        let result = message.withCString { corral_notify_send(socket, $0, strlen($0)) }
        return result == 0 ? nil : SystemError("sendto(\(socket))", errno: result)
    }
}

extension String {
    fileprivate func replacingNewlines() -> String {
        String(unicodeScalars.map { $0 == "\n" || $0 == "\r" ? " " : Character($0) })
    }
}
