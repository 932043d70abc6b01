import CCorralShims

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The datagram socket agents send `READY=1` to (systemd's notify protocol). One socket serves
/// every session: the kernel stamps each datagram with the sender's pid, and the sender's
/// session id (the leader's pid) says which corral session it belongs to.
///
/// It is bound in the abstract namespace, not in the data directory: a socket below a 0700
/// directory cannot be reached by an agent running as another `user`, whatever the socket's own
/// mode. An abstract socket has no permissions, so any local process may send to it (and may
/// see its name in `/proc/net/unix`): what a datagram does rests on the sender's pid, which the
/// kernel vouches for, never on who knows the name.
public final class NotifySocket: Sendable {
    /// The value agents get in `NOTIFY_SOCKET`: `@name`, in the abstract namespace.
    public let address: String
    public let descriptor: Int32

    /// Binds `@corral-notify-<instance id>`: unique to one corral's state (whose lock keeps a
    /// second corral off it), so two corrals on one host never collide, and the same after a
    /// restart, so that an agent re-adopted while still starting reaches the new corral with the
    /// `NOTIFY_SOCKET` it was given. A random name would break that, and hide nothing.
    public init(instanceID: String) throws(SystemError) {
        var fd: Int32 = -1
        let name = "@corral-notify-\(instanceID)"
        try Syscall.shim("bind(\(name))") { corral_notify_socket_open(name, &fd) }
        self.address = name
        self.descriptor = fd
    }

    /// Every datagram queued now, with its sender's pid (0 if unknown).
    public func receiveAll() -> [(senderPID: Int32, message: String)] {
        var received: [(Int32, String)] = []
        var buffer = [CChar](repeating: 0, count: 4096)
        while true {
            var length = 0
            var sender: Int32 = 0
            let result = buffer.withUnsafeMutableBufferPointer { raw in
                corral_notify_socket_receive(descriptor, raw.baseAddress!, raw.count, &length, &sender)
            }
            if result == EINTR { continue }
            guard result == 0 else { return received }
            let message = buffer[0..<length].withUnsafeBufferPointer { raw in
                String(decoding: UnsafeRawBufferPointer(raw), as: UTF8.self)
            }
            received.append((sender, message))
        }
    }

    deinit {
        Syscall.close(descriptor)
    }
}
