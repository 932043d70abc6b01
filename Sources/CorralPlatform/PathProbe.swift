import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Read-only questions about the paths a configuration names, for `corral check`: nothing is
/// created, opened or locked. Each answer is nil when corral would manage, else why not.
package enum PathProbe {
    package enum Kind: Equatable {
        case missing
        case directory
        case file
        case other
    }

    package static func kind(_ path: String) -> Kind {
        var info = stat()
        guard stat(path, &info) == 0 else { return .missing }
        switch info.st_mode & S_IFMT {
        case S_IFDIR: return .directory
        case S_IFREG: return .file
        default: return .other
        }
    }

    /// The directory a path is in (`/` for `/x`, `.` for a bare name).
    package static func parent(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    /// A directory corral works in: there, a directory, and one it may enter and write in.
    package static func workingDirectoryProblem(_ path: String, writes: Bool) -> String? {
        switch kind(path) {
        case .missing: return "\(path) does not exist"
        case .directory: break
        case .file, .other: return "\(path) is not a directory"
        }
        if access(path, X_OK) != 0 { return "\(path) cannot be entered (no search permission)" }
        if writes && access(path, W_OK) != 0 { return "\(path) is not writable" }
        return nil
    }

    /// A directory corral creates if it is not there (with `mkdir`, so one level only): there
    /// and writable, or a writable directory to make it in.
    package static func creatableDirectoryProblem(_ path: String) -> String? {
        switch kind(path) {
        case .missing:
            let parent = parent(of: path)
            guard let problem = workingDirectoryProblem(parent, writes: true) else { return nil }
            return "\(path) does not exist and cannot be created: \(problem)"
        case .directory: return workingDirectoryProblem(path, writes: true)
        case .file, .other: return "\(path) is not a directory"
        }
    }

    /// An existing, non-empty file that is not an SQLite database: its first 16 bytes are not
    /// SQLite's header (`corral serve` refuses it: "file is not a database"). Read, not opened for
    /// writing.
    package static func sqliteDatabaseProblem(_ path: String) -> String? {
        guard kind(path) == .file, let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        guard let head = try? handle.read(upToCount: 16), !head.isEmpty else { return nil }
        return head.elementsEqual(Array("SQLite format 3\0".utf8))
            ? nil : "\(path) is not an SQLite database (its first bytes are not SQLite's header); corral serve would refuse it"
    }

    /// A file corral opens for writing, creating it if need be (a database, a log); its
    /// directory may be `createdDirectory`, which corral creates itself.
    package static func writableFileProblem(_ path: String, createdDirectory: String?) -> String? {
        switch kind(path) {
        case .file, .other:
            return access(path, R_OK | W_OK) == 0 ? nil : "\(path) is not readable and writable"
        case .directory:
            return "\(path) is a directory"
        case .missing:
            let parent = parent(of: path)
            if parent == createdDirectory { return creatableDirectoryProblem(parent) }
            guard let problem = workingDirectoryProblem(parent, writes: true) else { return nil }
            return "\(path) cannot be created: \(problem)"
        }
    }

    /// The pid of a process holding an flock on the file at `path`, if one is listed.
    package static func lockHolder(_ path: String) -> Int32? {
        FileLock.holder(atPath: path)
    }
}
