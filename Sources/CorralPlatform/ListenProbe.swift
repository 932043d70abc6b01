#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Whether corral could listen at an address, asked before anything starts: a port another
/// program holds must stop start-up with `listen` named, not once sessions have been re-adopted
/// (the server binds last), where the bind's error named neither the key nor the address.
package enum ListenProbe {
    /// Nil if a socket binds there now (with `SO_REUSEADDR`, as the server's does), else why not.
    package static func problem(host: String, port: Int) -> String? {
        guard port != 0 else { return nil }
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        var found: UnsafeMutablePointer<addrinfo>?
        let resolved = getaddrinfo(host, String(port), &hints, &found)
        guard resolved == 0, let first = found else {
            return "the host \(host) cannot be resolved (\(String(cString: gai_strerror(resolved))))"
        }
        defer { freeaddrinfo(found) }
        let fd = socket(first.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return nil }  // Not the address's fault: the server will say.
        defer { close(fd) }
        var on: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<Int32>.size))
        guard bind(fd, first.pointee.ai_addr, first.pointee.ai_addrlen) != 0 else { return nil }
        let code = errno
        switch code {
        case EADDRINUSE: return "another program (another corral?) listens there; stop it, or set listen to a free port"
        case EACCES: return "permission denied: ports below 1024 need root or CAP_NET_BIND_SERVICE"
        case EADDRNOTAVAIL: return "no interface of this host has that address"
        default: return String(cString: strerror(code))
        }
    }
}
