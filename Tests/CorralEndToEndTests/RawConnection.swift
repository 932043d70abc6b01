import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A plain TCP connection to corral, for what an HTTP client library will not send: half a
/// request, a body one byte at a time, headers past the limits.
final class RawConnection: @unchecked Sendable {
    private var fd: Int32
    /// `read` saw the server close its side.
    private(set) var endSeen = false

    /// `receiveBuffer`: a small one makes a client that does not read fall behind at once.
    init(port: Int, receiveBuffer: Int32? = nil) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        // connect and send block a thread of the test's concurrency pool (two on this machine):
        // bounded, so that a server that stops reading costs a test, not the whole run.
        var sendTimeout = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &sendTimeout, socklen_t(MemoryLayout<timeval>.size))
        if var size = receiveBuffer { setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size)) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard fd >= 0, connected == 0 else {
            if fd >= 0 { Glibc.close(fd) }
            throw CocoaError(.fileReadUnknown, userInfo: [NSLocalizedDescriptionKey: "cannot connect to 127.0.0.1:\(port): errno \(errno)"])
        }
    }

    deinit { close() }

    func close() {
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
    }

    /// Sends nothing more (a FIN), reading on.
    func shutdownSending() {
        if fd >= 0 { Glibc.shutdown(fd, Int32(SHUT_WR)) }
    }

    /// False once the server has closed the connection.
    @discardableResult
    func send(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        return bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } == bytes.count
    }

    /// What the server has sent so far, waiting up to `timeout` for the first byte; empty if
    /// nothing came. It waits by polling without blocking: a test blocked in `poll(2)` holds one
    /// of the two threads of the concurrency pool, which the corral under test needs too (two
    /// such waits stalled every timer and handler in the test process for seconds).
    func read(timeout: Duration) async -> String {
        var received: [UInt8] = []
        var deadline = ContinuousClock.now + timeout
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = recv(fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
            if count > 0 {
                received += buffer.prefix(count)
                // More of the answer may follow at once.
                deadline = ContinuousClock.now + .milliseconds(50)
                continue
            }
            if count == 0 { endSeen = true }
            guard count < 0, errno == EAGAIN || errno == EWOULDBLOCK, ContinuousClock.now < deadline else { break }
            try? await Task.sleep(for: .milliseconds(5))
        }
        return String(decoding: received, as: UTF8.self)
    }

    /// Whether the server has closed its side (everything it sent is read and discarded).
    /// Whether the server has closed the connection by now, or does within `timeout` (a close
    /// is seen a moment after the server makes it; a busy machine stretches that moment).
    func closedByServer(within timeout: Duration) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while true {
            if closedByServer { return true }
            if ContinuousClock.now >= deadline { return false }
            try? await Task.sleep(for: .milliseconds(20))
        }
    }

    var closedByServer: Bool {
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = recv(fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
            if count == 0 { return true }
            if count < 0 { return errno != EAGAIN && errno != EWOULDBLOCK }
        }
    }
}
