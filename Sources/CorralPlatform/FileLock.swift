#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Who holds a file lock, as `/proc/locks` tells it: for messages that name the process in the
/// way ("another corral (pid 4711) is using ...").
package enum FileLock {
    /// The pid of a process holding an flock on the file open at `fd`, or nil if none is listed
    /// (or its pid is not visible from this pid namespace).
    static func holder(of fd: Int32) -> Int32? {
        var status = stat()
        guard fstat(fd, &status) == 0 else { return nil }
        return holder(of: status)
    }

    /// The pid of a process holding an flock on the file at `path`, found without opening it.
    package static func holder(atPath path: String) -> Int32? {
        var status = stat()
        guard stat(path, &status) == 0 else { return nil }
        return holder(of: status)
    }

    private static func holder(of status: stat) -> Int32? {
        guard let table = ProcFS.readFile("/proc/locks", limit: 1 << 20) else { return nil }
        // Lines read "1: FLOCK  ADVISORY  WRITE 4711 fe:00:16220618 0 EOF", the device as hex
        // major:minor; "1: -> FLOCK ..." lines are waiters, not holders.
        let device = UInt64(status.st_dev)
        let major = ((device >> 8) & 0xfff) | ((device >> 32) & ~0xfff)
        let minor = (device & 0xff) | ((device >> 12) & ~0xff)
        let file = String(major, radix: 16).leftPadded(to: 2) + ":" + String(minor, radix: 16).leftPadded(to: 2) + ":" + String(status.st_ino)
        for line in String(decoding: table, as: UTF8.self).split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count >= 6, fields[1] == "FLOCK", fields[5] == file, let pid = Int32(fields[4]), pid > 0 else { continue }
            return pid
        }
        return nil
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
