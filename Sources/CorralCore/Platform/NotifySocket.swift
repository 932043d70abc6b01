import CCorralShims

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The datagram socket agents send `READY=1` to (systemd's notify protocol). One socket serves
/// every session: the kernel stamps each datagram with the sender's pid, and the sender's
/// session id (the leader's pid) says which corral session it belongs to.
public final class NotifySocket: Sendable {
    /// The value agents get in `NOTIFY_SOCKET`: a path, or `@name` for the abstract namespace.
    public let address: String
    public let descriptor: Int32
    private let boundPath: String?

    /// Binds at `path`; if the path is too long for a unix socket, falls back to an abstract name.
    public init(path: String) throws(SystemError) {
        var fd: Int32 = -1
        if path.utf8.count < 100 {
            unlink(path)  // a stale socket from a previous run
            try Syscall.shim("bind(\(path))") { corral_notify_socket_open(path, &fd) }
            chmod(path, 0o666)  // agents may drop privileges and still need to notify
            self.address = path
            self.boundPath = path
        } else {
            let name = "@corral-notify-\(getpid())"
            try Syscall.shim("bind(\(name))") { corral_notify_socket_open(name, &fd) }
            self.address = name
            self.boundPath = nil
        }
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
                corral_notify_socket_receive(descriptor, raw.baseAddress, raw.count, &length, &sender)
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
        if let boundPath { unlink(boundPath) }
    }
}
