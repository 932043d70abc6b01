import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Reading a session's log: the last lines, and what is appended after them.
enum LogTail {
    /// The last `lines` lines of the file, and the file size they end at.
    static func last(_ lines: Int, of path: String) -> (text: [UInt8], end: Int)? {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        let size = Int(lseek(fd, 0, SEEK_END))
        guard size > 0, lines > 0 else { return ([], max(size, 0)) }
        var collected: [UInt8] = []
        var position = size
        var newlines = 0
        let chunk = 64 * 1024
        // A trailing newline ends the last line; it does not start another.
        var skipTrailing = true
        while position > 0 && newlines < lines {
            let length = min(chunk, position)
            position -= length
            var buffer = [UInt8](repeating: 0, count: length)
            let got = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, length, off_t(position)) }
            guard got == length else { break }
            for index in stride(from: length - 1, through: 0, by: -1) where buffer[index] == UInt8(ascii: "\n") {
                if skipTrailing && position + index == size - 1 { continue }
                newlines += 1
                if newlines == lines {
                    collected = Array(buffer[(index + 1)...]) + collected
                    return (collected, size)
                }
            }
            skipTrailing = false
            collected = buffer + collected
        }
        return (collected, size)
    }

    /// Bytes appended since `offset` (from the start again if the log was rotated and is now
    /// shorter), and the new offset.
    static func appended(to path: String, since offset: Int) -> (bytes: [UInt8], end: Int)? {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        let size = Int(lseek(fd, 0, SEEK_END))
        let start = size < offset ? 0 : offset
        guard size > start else { return ([], size) }
        let length = min(size - start, 1 << 20)
        var buffer = [UInt8](repeating: 0, count: length)
        let got = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, length, off_t(start)) }
        guard got > 0 else { return ([], start) }
        return (Array(buffer[0..<got]), start + got)
    }
}
