import CorralPlatform
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A live session's log is capped by copying its end to `NAME.1` and emptying it, under the
/// agent that keeps writing to it (`DataDirectory.rotateIfLarge`).
@Suite("Session log rotation")
struct LogRotationTests {
    private final class Place {
        let path = NSTemporaryDirectory() + "corral-logrotation-" + UUID().uuidString
        deinit { try? FileManager.default.removeItem(atPath: path) }
    }

    /// An agent that wrote far past the cap between two looks (one long line, no newline): the
    /// older copy holds the log's last `maxBytes` only, not all of it again.
    @Test func theOlderCopyIsTheLogsEndOnly() throws {
        let place = Place()
        let directory = try DataDirectory(path: place.path)
        let log = try directory.createLog(for: try #require(SessionID("flood")))
        defer { close(log.fd) }
        let head = [UInt8](repeating: UInt8(ascii: "x"), count: 1 << 20)
        let end = Array((0..<(64 << 10)).map { UInt8(ascii: "a") + UInt8($0 % 26) })
        #expect(write(log.fd, head, head.count) == head.count)
        #expect(write(log.fd, end, end.count) == end.count)

        #expect(directory.rotateIfLarge(log.path, maxBytes: UInt64(end.count)))
        let older = try #require(FileManager.default.contents(atPath: DataDirectory.rotatedCopy(of: log.path)))
        #expect(older.count == end.count)
        // Compared apart from the expectation: a failing one would diff a megabyte element-wise.
        let isTheEnd = Array(older) == end
        #expect(isTheEnd)
        // The agent's next write starts the emptied log.
        #expect(write(log.fd, "next\n", 5) == 5)
        #expect(try String(contentsOfFile: log.path, encoding: .utf8) == "next\n")
    }

    @Test func aLogUnderTheCapIsLeftAlone() throws {
        let place = Place()
        let directory = try DataDirectory(path: place.path)
        let log = try directory.createLog(for: try #require(SessionID("quiet")))
        defer { close(log.fd) }
        #expect(write(log.fd, "line\n", 5) == 5)
        #expect(!directory.rotateIfLarge(log.path, maxBytes: 5))
        #expect(!FileManager.default.fileExists(atPath: DataDirectory.rotatedCopy(of: log.path)))
        #expect(try String(contentsOfFile: log.path, encoding: .utf8) == "line\n")
    }
}
