import AsyncHTTPClient
import Foundation
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

/// Why corral could not be reached, said plainly from the error's kind and errno (a refused
/// connection, a timeout, a name that does not resolve), not from its description, which for a
/// refused connection read "connection reset (error set): Connection refused (errno: 111)".
enum Unreachable {
    static func reason(_ error: any Error, url: String) -> String {
        switch error {
        case let error as NIOConnectionError:
            if let dns = error.dnsAError ?? error.dnsAAAAError, error.connectionErrors.isEmpty {
                return "the host \(error.host) cannot be resolved (\(dns))"
            }
            // Each address tried failed; the first says why (a name may have several).
            return error.connectionErrors.first.map { reason($0.error, url: url) } ?? "cannot connect to \(url)"
        case let error as IOError:
            return reason(errno: error.errnoCode, url: url) ?? "cannot connect to \(url): \(strerror(errno: error.errnoCode))"
        case let error as HTTPClientError where error == .connectTimeout:
            return "no connection to \(url) within 5 s"
        case let error as HTTPClientError where error == .remoteConnectionClosed:
            return "\(url) closed the connection without answering"
        case ChannelError.connectTimeout:
            return "no connection to \(url) within 5 s"
        default:
            return "cannot connect to \(url): \(error)"
        }
    }

    private static func reason(errno code: CInt, url: String) -> String? {
        switch code {
        case ECONNREFUSED: "connection refused: nothing listens at \(url)"
        case ETIMEDOUT: "no answer from \(url): the connection timed out"
        case EHOSTUNREACH, ENETUNREACH: "\(url) cannot be reached from here (\(strerror(errno: code)))"
        case ECONNRESET: "\(url) reset the connection"
        default: nil
        }
    }

    private static func strerror(errno code: CInt) -> String {
        String(cString: Glibc.strerror(code))
    }
}
