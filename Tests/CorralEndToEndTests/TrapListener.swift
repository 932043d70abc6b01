import CorralTestSupport
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A loopback port that accepts connections and keeps what they send, answering nothing: where a
/// forged node record points, to see whether corral sends it anything (and what).
final class TrapListener: @unchecked Sendable {
    let port: Int
    private let fd: Int32

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { throw SystemErrorDescription("socket: errno \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 16) == 0 else {
            close(fd)
            throw SystemErrorDescription("bind/listen: errno \(errno)")
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        port = Int(UInt16(bigEndian: address.sin_port))
        self.fd = fd
    }

    deinit {
        close(fd)
    }

    var url: String { "http://127.0.0.1:\(port)" }

    /// The requests' heads of every connection made so far (each read until its blank line or for
    /// up to 5 s), each connection then closed. Empty if nothing connected.
    func received() async -> [String] {
        var heads: [String] = []
        while true {
            let connection = accept(fd, nil, nil)
            guard connection >= 0 else { return heads }
            _ = fcntl(connection, F_SETFL, fcntl(connection, F_GETFL) | O_NONBLOCK)
            var bytes: [UInt8] = []
            let deadline = ContinuousClock.now + .seconds(5)
            var buffer = [UInt8](repeating: 0, count: 4096)
            while ContinuousClock.now < deadline, !String(decoding: bytes, as: UTF8.self).contains("\r\n\r\n") {
                let got = buffer.withUnsafeMutableBytes { read(connection, $0.baseAddress, $0.count) }
                if got > 0 {
                    bytes += buffer[0..<got]
                } else if got < 0, errno == EAGAIN {
                    try? await Task.sleep(for: .milliseconds(10))
                } else {
                    break
                }
            }
            close(connection)
            heads.append(String(decoding: bytes, as: UTF8.self))
        }
    }
}
