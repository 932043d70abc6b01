import CorralCore
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Reading a session's log: the last lines, and what is appended after them.
enum LogTail {
    /// The last lines of a log and where following it goes on.
    struct Window {
        /// Whole lines, the last one possibly still being written.
        var text: [UInt8]
        /// Where what is appended later starts: the end of `text`, at a line start when no line
        /// was asked for.
        var end: Int
        /// The text (or, without text, what follows `end`) starts in the middle of a line: the
        /// log was rotated mid-line, or it could not be read back far enough. Whoever redacts must
        /// drop that first partial line, as the secret's name before it is not there.
        var startsMidLine: Bool
    }

    /// The last `lines` lines of the file. With 0 lines, `end` is where the line being written
    /// starts, so that a follower gets it whole.
    static func last(_ lines: Int, of path: String) -> Window? {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        let size = Int(lseek(fd, 0, SEEK_END))
        guard size > 0, lines >= 0 else { return Window(text: [], end: max(size, 0), startsMidLine: false) }
        var collected: [UInt8] = []
        var position = size
        var newlines = 0
        // The last line, partial or not, counts as one; with 0 lines asked for, only a partial one
        // is looked for (to start following at its beginning).
        let wanted = max(lines, 1)
        let chunk = 64 * 1024
        // A trailing newline ends the last line; it does not start another.
        var skipTrailing = true
        scan: while position > 0 {
            let length = min(chunk, position)
            var buffer = [UInt8](repeating: 0, count: length)
            let got = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, length, off_t(position - length)) }
            guard got == length else {
                // Short read: what was collected starts at an arbitrary byte.
                return window(collected, lines: lines, size: size, start: position, midLine: true)
            }
            position -= length
            for index in stride(from: length - 1, through: 0, by: -1) where buffer[index] == UInt8(ascii: "\n") {
                if skipTrailing && position + index == size - 1 {
                    if lines == 0 { return Window(text: [], end: size, startsMidLine: false) }
                    continue
                }
                newlines += 1
                if newlines == wanted {
                    collected = Array(buffer[(index + 1)...]) + collected
                    position += index + 1
                    break scan
                }
            }
            skipTrailing = false
            collected = buffer + collected
        }
        return window(collected, lines: lines, size: size, start: position, midLine: position == 0 && continuesRotatedLine(path))
    }

    private static func window(_ collected: [UInt8], lines: Int, size: Int, start: Int, midLine: Bool) -> Window {
        lines == 0 ? Window(text: [], end: start, startsMidLine: midLine) : Window(text: collected, end: size, startsMidLine: midLine)
    }

    /// Whether the log's first line is the rest of one cut by rotation: its previous content,
    /// moved aside, does not end with a newline.
    private static func continuesRotatedLine(_ path: String) -> Bool {
        let fd = open(DataDirectory.rotatedCopy(of: path), O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        let size = lseek(fd, 0, SEEK_END)
        guard size > 0 else { return false }
        var last: UInt8 = 0
        guard pread(fd, &last, 1, size - 1) == 1 else { return true }
        return last != UInt8(ascii: "\n")
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
