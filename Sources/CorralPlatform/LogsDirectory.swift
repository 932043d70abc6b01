#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The data directory's `logs`, held open: session logs are made in it by descriptor (`openat`,
/// renames of spares), never through a path an agent could swap.
///
/// An operator may remove or move it while corral runs. The descriptor then names a directory
/// no longer at `path` (every log made in a removed one failed, until a restart, even once it
/// was made again by hand), so each use first checks that it still is (`isCurrent`), and the
/// owner opens another, made again if need be. Whoever holds an instance may use its descriptor:
/// it is closed only when the last holder lets go.
final class LogsDirectory: Sendable {
    let fd: Int32
    let spares: LogSpares
    private let device: UInt64
    private let inode: UInt64

    /// Opens (making it if missing, 0700) the directory at `path`; nil with `errno` set if it
    /// cannot be.
    init?(path: String) {
        if mkdir(path, 0o700) == 0 { chmod(path, 0o700) }
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            let code = errno
            close(fd)
            errno = code
            return nil
        }
        self.fd = fd
        self.device = UInt64(info.st_dev)
        self.inode = UInt64(info.st_ino)
        self.spares = LogSpares(directoryFD: fd, path: path)
    }

    /// Whether `path` still names this directory.
    func isCurrent(at path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && UInt64(info.st_dev) == device && UInt64(info.st_ino) == inode
    }

    deinit {
        spares.discardAll()
        close(fd)
    }
}
