import CorralPlatform
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A session's log is a spare made ahead (`LogSpares`), renamed: the log a start gets must be
/// the one it would have created, new, its own and empty.
@Suite("Session logs made ahead of their starts")
struct LogSpareTests {
    private final class Place {
        let path = NSTemporaryDirectory() + "corral-logspares-" + UUID().uuidString
        var logs: String { path + "/logs" }
        deinit { try? FileManager.default.removeItem(atPath: path) }

        var spares: [String] {
            ((try? FileManager.default.contentsOfDirectory(atPath: logs)) ?? []).filter { $0.hasPrefix(".spare-") }.sorted()
        }
    }

    @Test func aStartTakesASpareAndTheNextOneIsMadeAgain() throws {
        let place = Place()
        let directory = try DataDirectory(path: place.path)
        #expect(place.spares.count == 2)
        let spare = try #require(place.spares.last)
        let before = try inode(place.logs + "/" + spare)

        let log = try directory.createLog(for: try #require(SessionID("first")))
        defer { close(log.fd) }
        #expect(log.path == place.logs + "/first.log")
        #expect(try inode(log.path) == before, "the log is not the spare renamed")
        #expect(place.spares.count == 1)
        var info = stat()
        #expect(fstat(log.fd, &info) == 0 && info.st_size == 0 && info.st_mode & 0o777 == 0o600)
        // What the agent writes goes to the log.
        #expect(write(log.fd, "hello\n", 6) == 6)
        #expect(try String(contentsOfFile: log.path, encoding: .utf8) == "hello\n")

        directory.makeLogSpares()
        #expect(place.spares.count == 2)
    }

    /// The logs directory removed, or moved away, while corral runs: the next log is made in a
    /// `logs` made again (an outside review: every start failed until a restart, even once the
    /// directory was made again by hand; moved, the logs went on into it, where no one reads).
    @Test func aLogsDirectoryRemovedOrMovedIsMadeAgain() throws {
        let place = Place()
        let directory = try DataDirectory(path: place.path)
        try FileManager.default.removeItem(atPath: place.logs)
        let afterRemoval = try directory.createLog(for: try #require(SessionID("after-removal")))
        close(afterRemoval.fd)
        #expect(afterRemoval.path == place.logs + "/after-removal.log")
        #expect(FileManager.default.fileExists(atPath: afterRemoval.path))
        var info = stat()
        #expect(stat(place.logs, &info) == 0 && info.st_mode & 0o777 == 0o700)

        try FileManager.default.moveItem(atPath: place.logs, toPath: place.path + "/logs.old")
        let afterMove = try directory.createLog(for: try #require(SessionID("after-move")))
        close(afterMove.fd)
        #expect(FileManager.default.fileExists(atPath: place.logs + "/after-move.log"))
        #expect(!FileManager.default.fileExists(atPath: place.path + "/logs.old/after-move.log"))
        directory.makeLogSpares()
        #expect(place.spares.count == 2)
    }

    /// An id's older log is never replaced, and the new log is the newest of the id's logs by
    /// its time (a spare may have been made long before).
    @Test func aReusedIdGetsANewLogThatIsItsNewest() throws {
        let place = Place()
        let directory = try DataDirectory(path: place.path)
        let id = try #require(SessionID("again"))
        let first = try directory.createLog(for: id)
        #expect(write(first.fd, "old\n", 4) == 4)
        close(first.fd)
        // The older log last written ten minutes ago, both spares made an hour ago.
        try age(first.path, seconds: 600)
        for spare in place.spares { try age(place.logs + "/" + spare, seconds: 3600) }

        let second = try directory.createLog(for: id)
        defer { close(second.fd) }
        #expect(second.path == place.logs + "/again~1.log")
        #expect(try String(contentsOfFile: first.path, encoding: .utf8) == "old\n")
        #expect(directory.latestLog(for: id) == second.path)
    }

    @Test func sparesOfAnEarlierRunAreRemovedAndOldLogsCleanUpLeavesThemAlone() throws {
        let place = Place()
        try FileManager.default.createDirectory(atPath: place.logs, withIntermediateDirectories: true)
        #expect(FileManager.default.createFile(atPath: place.logs + "/.spare-41", contents: Data("left".utf8)))
        do {
            let directory = try DataDirectory(path: place.path)
            #expect(!place.spares.contains(".spare-41"))
            #expect(place.spares.count == 2)
            for spare in place.spares { try age(place.logs + "/" + spare, seconds: 3600) }
            #expect(directory.removeLogs(olderThan: 60, keeping: []) == 0)
            #expect(place.spares.count == 2)
        }
        // Gone with the directory's owner.
        #expect(place.spares.isEmpty)
    }

    private func inode(_ path: String) throws -> UInt {
        var info = stat()
        guard stat(path, &info) == 0 else { throw POSIXError(.ENOENT) }
        return UInt(info.st_ino)
    }

    private func age(_ path: String, seconds: Int) throws {
        let then = Date().addingTimeInterval(-Double(seconds))
        try FileManager.default.setAttributes([.modificationDate: then], ofItemAtPath: path)
    }
}
