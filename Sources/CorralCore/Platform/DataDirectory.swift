import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// corral's data directory (mode 0700): session logs, the notify socket, the lock that keeps a
/// second corral off the same state, and by default the database. Session ids are validated
/// before they get here, and files are opened relative to the directory's descriptor with
/// O_NOFOLLOW, so no name can point outside it.
public final class DataDirectory: Sendable {
    public let path: String
    public var logsPath: String { path + "/logs" }
    /// Identifies this corral's state (kept in `instance-id`): agents carry it as
    /// `CORRAL_INSTANCE_ID`, so after a crash corral knows which orphans are its own and never
    /// touches another corral's.
    public let instanceID: String
    private let logsFD: Int32
    private let lockFD: Int32

    /// Creates the directories if needed and takes the lock.
    public init(path: String) throws(CorralError) {
        self.path = path
        for directory in [path, path + "/logs"] {
            if mkdir(directory, 0o700) != 0 && errno != EEXIST {
                throw CorralError(.configuration, "cannot create the data directory \(directory)", underlying: SystemError("mkdir", errno: errno))
            }
            chmod(directory, 0o700)
        }
        lockFD = open(path + "/corral.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard lockFD >= 0 else {
            throw CorralError(.configuration, "cannot open \(path)/corral.lock", underlying: SystemError("open", errno: errno))
        }
        guard flock(lockFD, LOCK_EX | LOCK_NB) == 0 else {
            let code = errno
            Glibc.close(lockFD)
            throw CorralError(
                .configuration,
                "another corral is already running with the data directory \(path); stop it or set data_dir to another directory",
                underlying: SystemError("flock", errno: code)
            )
        }
        logsFD = open(path + "/logs", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard logsFD >= 0 else {
            throw CorralError(.configuration, "cannot open \(path)/logs", underlying: SystemError("open", errno: errno))
        }
        let stored = (try? String(contentsOfFile: path + "/instance-id", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
        if let stored, !stored.isEmpty, stored.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" }) {
            instanceID = stored
        } else {
            instanceID = UUID().uuidString.lowercased()
            try install(instanceID + "\n", as: "instance-id", mode: 0o600)
        }
    }

    deinit {
        Glibc.close(logsFD)
        Glibc.close(lockFD)  // releases the lock
    }

    /// Creates a new log file for the session (mode 0600, never an existing file): `ID.log`, or
    /// `ID~N.log` when an earlier session with the same id left its log.
    func createLog(for id: SessionID) throws(CorralError) -> (fd: Int32, path: String) {
        for attempt in 0..<1000 {
            let name = attempt == 0 ? "\(id.rawValue).log" : "\(id.rawValue)~\(attempt).log"
            let fd = openat(logsFD, name, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0o600)
            if fd >= 0 { return (fd, logsPath + "/" + name) }
            if errno != EEXIST {
                throw CorralError(.spawnFailed, "cannot create the session log \(logsPath)/\(name)", underlying: SystemError("openat", errno: errno))
            }
        }
        throw CorralError(.spawnFailed, "too many old logs for session \(id) in \(logsPath)")
    }

    /// Writes a file (mode `mode`) in the data directory, replacing an older one.
    func install(_ contents: String, as name: String, mode: mode_t) throws(CorralError) {
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
