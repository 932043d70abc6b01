import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// An append-only JSON-lines record of who did what (start, end, inspect, logs, refused
/// authentication): one `write(2)` per line with O_APPEND, so lines never interleave, and a
/// line cut short by a crash is closed at the next start, so every other line stays readable.
/// Rotated by size (one older file, `NAME.1`). Never holds session metadata.
public final class AuditLog: Sendable {
    public struct Entry: Sendable, Encodable {
        public let time: String
        public let who: String
        public let role: String?
        public let action: String
        public let session: String?
        public let address: String?
        public let result: Int

        public init(who: String, role: Role?, action: String, session: String?, address: String?, result: Int) {
            self.time = Date().formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true, timeZone: .gmt))
            self.who = who
            self.role = role?.rawValue
            self.action = action
            self.session = session
            self.address = address
            self.result = result
        }
    }

    public let path: String
    private let maxBytes: UInt64
    private let state: Mutex<Int32>
    private let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    public init(path: String, maxBytes: UInt64) throws(CorralError) {
        self.path = path
        self.maxBytes = maxBytes
        let fd = Self.open(path)
        guard fd >= 0 else {
            throw CorralError(.configuration, "cannot open the audit log \(path)", underlying: SystemError("open", errno: errno))
        }
        Self.closeTruncatedLine(fd)
        state = Mutex(fd)
    }

    deinit {
        let fd = state.withLock { $0 }
        if fd >= 0 { Glibc.close(fd) }
    }

    public func record(_ entry: Entry) {
        guard var data = try? encoder.encode(entry) else { return }
        data.append(UInt8(ascii: "\n"))
        state.withLock { fd in
            rotateIfNeeded(&fd)
            _ = data.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        }
    }

    private func rotateIfNeeded(_ fd: inout Int32) {
        var info = stat()
        guard maxBytes > 0, fstat(fd, &info) == 0, UInt64(info.st_size) >= maxBytes else { return }
        rename(path, path + ".1")
        let fresh = Self.open(path)
        guard fresh >= 0 else { return }
        Glibc.close(fd)
        fd = fresh
    }

    private static func open(_ path: String) -> Int32 {
        Glibc.open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0o600)
    }

    /// A previous corral that died mid-write left a line without its newline: end it, so the
    /// next entry starts on a line of its own.
    private static func closeTruncatedLine(_ fd: Int32) {
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_size > 0 else { return }
        let reader = Glibc.open("/proc/self/fd/\(fd)", O_RDONLY | O_CLOEXEC)
        guard reader >= 0 else { return }
        defer { Glibc.close(reader) }
        var last: UInt8 = 0
        if pread(reader, &last, 1, info.st_size - 1) == 1, last != UInt8(ascii: "\n") {
            var newline = UInt8(ascii: "\n")
            _ = write(fd, &newline, 1)
        }
    }
}
