import CCorralShims

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// How a process ended, as far as corral could observe it.
public enum ExitStatus: Sendable, Equatable, CustomStringConvertible {
    case exited(code: Int32)
    case signaled(signal: Int32, coreDumped: Bool)
    /// The process was not corral's child (adopted after a restart): it is gone, its status is not
    /// known.
    case unknown

    init(siginfoCode code: Int32, status: Int32) {
        switch code {
        case Int32(CLD_EXITED): self = .exited(code: status)
        case Int32(CLD_KILLED): self = .signaled(signal: status, coreDumped: false)
        case Int32(CLD_DUMPED): self = .signaled(signal: status, coreDumped: true)
        default: self = .unknown
        }
    }

    public var description: String {
        switch self {
        case .exited(let code): "exit code \(code)"
        case .signaled(let signal, let dumped):
            "signal \(signal) (\(ExitStatus.signalName(signal)))" + (dumped ? ", core dumped" : "")
        case .unknown: "exit status unknown"
        }
    }

    static func signalName(_ signal: Int32) -> String {
        switch signal {
        case SIGHUP: "SIGHUP"
        case SIGINT: "SIGINT"
        case SIGQUIT: "SIGQUIT"
        case SIGABRT: "SIGABRT"
        case SIGKILL: "SIGKILL"
        case SIGSEGV: "SIGSEGV"
        case SIGPIPE: "SIGPIPE"
        case SIGTERM: "SIGTERM"
        case SIGBUS: "SIGBUS"
        case SIGFPE: "SIGFPE"
        case SIGILL: "SIGILL"
        default: "SIG\(signal)"
        }
    }
}
