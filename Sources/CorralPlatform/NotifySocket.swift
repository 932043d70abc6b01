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
/// corral's is a socket file, `notify` in its data directory. Nobody but corral's user can
/// create or replace a name in that directory, so no other user can take the socket's place
/// before corral binds it (an abstract name could be taken by anyone who read it in
/// `/proc/net/unix`, and corral could then not start). The directory lets others through
/// (0711) to names they know, without listing it, and the socket itself is 0666: agents running
/// as another `user` reach it. Anyone who reaches it may send to it: what a datagram does rests
/// on the sender's pid, which the kernel vouches for, never on who can send.
public final class NotifySocket: Sendable {
    /// The value agents get in `NOTIFY_SOCKET`: the socket's path.
    public let address: String
    public let descriptor: Int32

    /// The socket's name in the data directory.
    public static let fileName = "notify"
    /// The largest datagram read whole.
    static let largestDatagram = 64 * 1024
    /// The longest path a Unix socket can be bound at: `sun_path` (108 bytes) less its NUL.
    public static let maximumPathLength = 107

    /// corral's notify socket in the data directory `directory`: the same path after every
    /// restart, so that an agent re-adopted while still starting reaches the new corral with the
    /// `NOTIFY_SOCKET` it was given.
    public static func path(inDataDirectory directory: String) -> String {
        directory + "/" + fileName
    }

    /// Binds a socket at `path` (mode 0666), replacing the one an earlier corral left there.
    /// `@name` binds `name` in the abstract namespace instead (as a service manager may give
    /// its own), with nothing to replace or open up.
    public init(path: String) throws(SystemError) {
        let isFile = !path.hasPrefix("@")
        if isFile, path.utf8.count > Self.maximumPathLength { throw SystemError("bind(\(path))", errno: ENAMETOOLONG) }
        if isFile, unlink(path) != 0, errno != ENOENT { throw SystemError("unlink(\(path))", errno: errno) }
        var fd: Int32 = -1
        try Syscall.shim("bind(\(path))") { corral_notify_socket_open(path, &fd) }
        // bind made it with corral's umask; agents of any user must be able to send to it.
        if isFile, chmod(path, 0o666) != 0 {
            let code = errno
            Syscall.close(fd)
            throw SystemError("chmod(\(path))", errno: code)
        }
        self.address = path
        self.descriptor = fd
    }

    /// Every datagram queued now, with its sender's pid (0 if unknown).
    public func receiveAll() -> [(senderPID: Int32, message: String)] {
        var received: [(senderPID: Int32, message: String)] = []
        receiveEach(atMost: .max) { received.append(($0, $1)) }
        return received
    }

    /// Hands over each datagram queued now, up to `limit`, with its sender's pid (0 if unknown),
    /// before the next is received: a descriptor the next carries (a `BARRIER=1`) is closed only
    /// once `body` has returned, and a sender waiting on it is still there while `body` reads
    /// about it. The limit keeps an agent that sends without pause from holding the caller for
    /// ever (the socket stays readable, and is read again at the next wake).
    public func receiveEach(atMost limit: Int, _ body: (_ senderPID: Int32, _ message: String) -> Void) {
        // systemd takes 4 KiB; agents send more (a long STATUS= before READY=1), which the kernel
        // would cut here, READY=1 and all.
        var buffer = [CChar](repeating: 0, count: Self.largestDatagram)
        var received = 0
        while received < limit {
            var length = 0
            var sender: Int32 = 0
            let result = buffer.withUnsafeMutableBufferPointer { raw in
                corral_notify_socket_receive(descriptor, raw.baseAddress!, raw.count, &length, &sender)
            }
            if result == EINTR { continue }
            guard result == 0 else { return }
            let message = buffer[0..<length].withUnsafeBufferPointer { raw in
                String(decoding: UnsafeRawBufferPointer(raw), as: UTF8.self)
            }
            body(sender, message)
            received += 1
        }
    }

    deinit {
        Syscall.close(descriptor)
    }
}
