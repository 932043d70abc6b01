import CCorralShims
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// corral's data directory: session logs, the instance id, the lock that keeps a second corral
/// off the same state, the notify socket, and by default the database. Session ids are
/// validated before they get here, and files are opened relative to the directory's descriptor
/// with O_NOFOLLOW, so no name can point outside it.
///
/// The directory is 0711: agents running as another user pass through it to the notify socket
/// (`NotifySocket`), and nobody else may list it or make a name in it. Everything in it is closed
/// to other users (0600, 0700), so that a name one knows (`corral.db`) opens nothing.
public final class DataDirectory: Sendable {
    public let path: String
    public var logsPath: String { path + "/logs" }
    /// Identifies this corral's state (kept in `instance-id`): agents carry it as
    /// `CORRAL_INSTANCE_ID`, so after a crash corral knows which orphans are its own and never
    /// touches another corral's.
    public let instanceID: String
    private let lockFD: Int32
    /// Replaced when `logs` is no longer the directory it was (`currentLogs`).
    private let logs: Mutex<LogsDirectory>

    /// Creates the directories if needed and takes the lock.
    public init(path: String) throws(CorralError) {
        self.path = path
        for (directory, mode) in [(path, Self.mode), (path + "/logs", 0o700)] {
            if mkdir(directory, mode) != 0 && errno != EEXIST {
                throw CorralError(
                    .configuration,
                    "data_dir: cannot create the data directory \(directory); make its parent directory, or set data_dir to a directory corral may create",
                    underlying: SystemError("mkdir", errno: errno)
                )
            }
            chmod(directory, mode)
        }
        Self.closeEntriesToOthers(in: path)
        lockFD = open(path + "/corral.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard lockFD >= 0 else {
            throw CorralError(.configuration, "cannot open \(path)/corral.lock", underlying: SystemError("open", errno: errno))
        }
        guard flock(lockFD, LOCK_EX | LOCK_NB) == 0 else {
            let code = errno
            Glibc.close(lockFD)
            throw CorralError(
                .configuration,
                "data_dir: another corral is already running with the data directory \(path); stop it or set data_dir to another directory",
                underlying: SystemError("flock", errno: code)
            )
        }
        guard let logs = LogsDirectory(path: path + "/logs") else {
            throw CorralError(.configuration, "cannot open \(path)/logs", underlying: SystemError("open", errno: errno))
        }
        self.logs = Mutex(logs)
        logs.spares.refill()
        let stored = (try? String(contentsOfFile: path + "/instance-id", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
        if let stored, !stored.isEmpty, stored.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" }) {
            instanceID = stored
        } else {
            instanceID = UUID().uuidString.lowercased()
            try install(instanceID + "\n", as: "instance-id", mode: 0o600)
        }
    }

    /// The data directory's own mode: others may search it (for the notify socket), not list it.
    static let mode: mode_t = 0o711

    /// Takes group and other permissions off what is in the directory (left by an older corral,
    /// under a directory others could not enter, or put there by hand); the notify socket keeps
    /// its own.
    private static func closeEntriesToOthers(in path: String) {
        for name in DirectoryEntries.names(path) where name != NotifySocket.fileName {
            let entry = path + "/" + name
            var info = stat()
            guard lstat(entry, &info) == 0, info.st_mode & S_IFMT != S_IFLNK, info.st_mode & 0o077 != 0 else { continue }
            chmod(entry, info.st_mode & 0o700)
        }
    }

    deinit {
        Glibc.close(lockFD)  // releases the lock
    }

    /// The logs directory, opened again (and made again) if it was removed or moved away.
    private func currentLogs() -> LogsDirectory {
        let held = logs.withLock { $0 }
        if held.isCurrent(at: logsPath) { return held }
        return logs.withLock { current in
            guard current === held, let fresh = LogsDirectory(path: logsPath) else { return current }
            current = fresh
            return fresh
        }
    }

    /// Creates a new log file for the session (mode 0600, never an existing file): `ID.log`, or
    /// `ID~N.log` when an earlier session with the same id left its log. A spare made earlier
    /// is renamed to it if one is ready (`LogSpares`; `makeLogSpares` makes them again).
    package func createLog(for id: SessionID) throws(CorralError) -> (fd: Int32, path: String) {
        let logs = currentLogs()
        var spare = logs.spares.take()
        for name in Self.logNames(of: id) {
            if let taken = spare {
                let code = corral_rename_noreplace(logs.fd, taken.name, logs.fd, name)
                if code == 0 {
                    // Made earlier: its times are the session's own from now (`latestLog`
                    // picks the newest of an id's logs by them).
                    futimens(taken.fd, nil)
                    return (taken.fd, logsPath + "/" + name)
                }
                if code == EEXIST { continue }
                logs.spares.discard(taken)
                spare = nil
            }
            let fd = Self.openNewLog(name, in: logs.fd)
            if fd >= 0 { return (fd, logsPath + "/" + name) }
            if errno != EEXIST {
                throw CorralError(.spawnFailed, "cannot create the session log \(logsPath)/\(name)", underlying: SystemError("openat", errno: errno))
            }
        }
        if let spare { logs.spares.discard(spare) }
        throw CorralError(.spawnFailed, "too many old logs for session \(id) in \(logsPath)")
    }

    /// The names a log of session `id` may have, in the order they are tried: `ID.log`, then
    /// `ID~1.log` … `ID~999.log` beside the logs earlier sessions of that id left.
    static func logNames(of id: SessionID) -> some Sequence<String> {
        (0..<1000).lazy.map { $0 == 0 ? "\(id.rawValue).log" : "\(id.rawValue)~\($0).log" }
    }

    /// A new log file `name` in `directoryFD`: mode 0600, appended to, never an existing file or
    /// a link. The descriptor, or -1 with `errno` set.
    static func openNewLog(_ name: String, in directoryFD: Int32) -> Int32 {
        openat(directoryFD, name, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0o600)
    }

    /// Makes the spare logs the next starts take (`createLog`), off a start's path.
    package func makeLogSpares() {
        currentLogs().spares.refill()
    }

    /// Renames a prewarmed agent's log to the session it took (it keeps writing to the same
    /// open file). Returns the new path, or nil if the log stays where it is.
    package func moveLog(_ path: String, to id: SessionID) -> String? {
        let source = (path as NSString).lastPathComponent
        let logs = currentLogs()
        for name in Self.logNames(of: id) {
            // link + unlink: a rename that never replaces an existing log.
            if linkat(logs.fd, source, logs.fd, name, 0) == 0 {
                unlinkat(logs.fd, source, 0)
                return logsPath + "/" + name
            }
            if errno != EEXIST { return nil }
        }
        return nil
    }

    /// The most recent log of a session id (ended sessions' logs stay until they expire).
    public func latestLog(for id: SessionID) -> String? {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: logsPath)) ?? []
        let candidates = names.filter { $0 == "\(id.rawValue).log" || ($0.hasPrefix("\(id.rawValue)~") && $0.hasSuffix(".log")) }
        return candidates.map { logsPath + "/" + $0 }.max { modificationTime($0) < modificationTime($1) }
    }

    /// Where `rotateIfLarge` keeps the previous content of the log at `path`.
    public static func rotatedCopy(of path: String) -> String { path + ".1" }

    /// Caps a live session's log: once it is over `maxBytes`, its last `maxBytes` move to `NAME.1`
    /// (a new file, replacing the previous one) and the log starts again empty. The agent keeps
    /// writing to the same open file (O_APPEND), so nothing has to be reopened. An exclusive
    /// flock on the log is held throughout: a reader holding it shared (`LogTail`) sees a
    /// rotation done or not begun, never a half-copied `NAME.1` beside a log not yet emptied.
    ///
    /// Only the last `maxBytes` are copied: an agent that writes faster than the log is looked at
    /// (as fast as the disk takes) must not make the copy as large and as slow as the log again.
    /// A copy that cannot be written (the disk is full) is dropped, and the log emptied all the
    /// same.
    package func rotateIfLarge(_ path: String, maxBytes: UInt64) -> Bool {
        guard maxBytes > 0 else { return false }
        // Most looks find the log under its cap: a stat, without opening it.
        var info = stat()
        guard lstat(path, &info) == 0, UInt64(info.st_size) > maxBytes else { return false }
        let source = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard source >= 0 else { return false }
        defer { Glibc.close(source) }
        guard fstat(source, &info) == 0, UInt64(info.st_size) > maxBytes, (try? Syscall.libc("flock", { flock(source, LOCK_EX) })) != nil
        else { return false }
        let rotated = Self.rotatedCopy(of: path)
        unlink(rotated)
        if !Self.copy(source, from: off_t(info.st_size) - off_t(maxBytes), bytes: Int(maxBytes), to: rotated) { unlink(rotated) }
        return truncate(path, 0) == 0
    }

    /// Copies `bytes` of `source` from `offset` into a new file at `path`; false if a read or a
    /// write failed.
    private static func copy(_ source: Int32, from offset: off_t, bytes: Int, to path: String) -> Bool {
        let target = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard target >= 0 else { return false }
        defer { Glibc.close(target) }
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        var copied = 0
        while copied < bytes {
            let got = buffer.withUnsafeMutableBytes { pread(source, $0.baseAddress, min($0.count, bytes - copied), offset + off_t(copied)) }
            guard got > 0 else { return got == 0 }
            let written = buffer.withUnsafeBytes { write(target, $0.baseAddress, got) }
            guard written == got else { return false }
            copied += got
        }
        return true
    }

    /// Bytes free on the directory's filesystem for corral (root may also use the blocks kept
    /// for it), nil if that cannot be told.
    package func availableBytes() -> UInt64? {
        var info = statvfs()
        guard statvfs(path, &info) == 0 else { return nil }
        return UInt64(geteuid() == 0 ? info.f_bfree : info.f_bavail) * UInt64(info.f_frsize)
    }

    /// Removes logs (and rotated logs) last written more than `age` ago, except `keep`.
    package func removeLogs(olderThan age: TimeInterval, keeping keep: Set<String>) -> Int {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: logsPath)) ?? []
        let cutoff = Date().addingTimeInterval(-age)
        var removed = 0
        for name in names where name.hasSuffix(".log") || name.hasSuffix(".log.1") {
            let path = logsPath + "/" + name
            let base = name.hasSuffix(".1") ? String(path.dropLast(2)) : path
            guard !keep.contains(base), modificationTime(path) < cutoff else { continue }
            if unlink(path) == 0 { removed += 1 }
        }
        return removed
    }

    private func modificationTime(_ path: String) -> Date {
        var info = stat()
        guard stat(path, &info) == 0 else { return .distantPast }
        return Date(timeIntervalSince1970: TimeInterval(info.st_mtim.tv_sec) + TimeInterval(info.st_mtim.tv_nsec) / 1e9)
    }

    /// Writes a file (mode `mode`) in the data directory, replacing an older one.
    package func install(_ contents: String, as name: String, mode: mode_t) throws(CorralError) {
        let target = path + "/" + name
        let temporary = target + ".tmp"
        unlink(temporary)
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)
        guard fd >= 0 else { throw CorralError(.configuration, "cannot write \(temporary)", underlying: SystemError("open", errno: errno)) }
        let bytes = Array(contents.utf8)
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        Glibc.close(fd)
        guard written == bytes.count, rename(temporary, target) == 0 else {
            throw CorralError(.configuration, "cannot write \(target)", underlying: SystemError("write", errno: errno))
        }
    }
}
