import CorralCore
import CorralPlatform
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Reading a session's log: the last lines, and what is appended after them. Every read holds
/// the log's flock shared, and a rotation (`DataDirectory.rotateIfLarge`) holds it exclusively:
/// a read sees a rotation done or not begun.
enum LogTail {
    /// What a read got: the log is missing, or being rotated (ask again shortly).
    enum Reading<Value> {
        case read(Value)
        case missing
        case busy

        var isBusy: Bool {
            if case .busy = self { true } else { false }
        }
    }

    /// Where a reader of a log stands: an offset, and the rotated copy (`NAME.1`) that was there.
    struct Position: Equatable, Sendable {
        var offset: Int
        var rotation: RotationMark?
    }

    /// Tells a rotated copy from the next one: each rotation makes a new file. A log emptied
    /// and refilled past a reader's offset between two of its reads is told by this, not by
    /// its size.
    struct RotationMark: Equatable, Sendable {
        let inode: UInt64
        /// Its change time, as an inode number is soon used again.
        let changedSeconds: Int
        let changedNanoseconds: Int
    }

    /// The last lines of a log and where following it goes on.
    struct Window {
        /// Whole lines, the last one possibly still being written.
        var text: [UInt8]
        /// Where what is appended later starts: the end of `text`, at a line start when no line
        /// was asked for.
        var end: Position
        /// The text (or, without text, what follows `end`) starts in the middle of a line: the
        /// log was rotated mid-line, or it could not be read back far enough. Whoever redacts must
        /// drop that first partial line, as the secret's name before it is not there.
        var startsMidLine: Bool
    }

    /// What was appended to a log since a position.
    struct Appended {
        var bytes: [UInt8]
        var end: Position
        /// The log was rotated since the position: `bytes` are from the start of the new log (what
        /// was not read of the old one is not read), and the line being read was cut.
        var rotated: Bool
        /// The new log starts with the rest of that cut line (or, emptied by something other than
        /// a rotation, at a place unknown): whoever redacts must drop its first partial line.
        var startsMidLine: Bool
    }

    /// The last `lines` lines of the file. With 0 lines, `end` is where the line being written
    /// starts, so that a follower gets it whole.
    static func last(_ lines: Int, of path: String) -> Reading<Window> {
        locked(path) { fd in
            let size = Int(lseek(fd, 0, SEEK_END))
            let mark = rotationMark(of: path)
            // An empty log after a rotation: what the agent writes next may be the rest of a line.
            guard size > 0, lines >= 0 else {
                return Window(text: [], end: Position(offset: max(size, 0), rotation: mark), startsMidLine: size == 0 && continuesRotatedLine(path))
            }
            // Read backwards a chunk at a time, kept in reverse order and joined once.
            var chunks: [ArraySlice<UInt8>] = []
            var collectedBytes = 0
            func collected() -> [UInt8] { Array(chunks.reversed().joined()) }
            var position = size
            var newlines = 0
            // The last line, partial or not, counts as one; with 0 lines asked for, only a partial
            // one is looked for (to start following at its beginning).
            let wanted = max(lines, 1)
            let chunk = 64 * 1024
            // A trailing newline ends the last line; it does not start another.
            var skipTrailing = true
            scan: while position > 0 {
                guard collectedBytes < windowBytes else {
                    // Lines longer than the window: it starts mid-line.
                    return window(collected(), lines: lines, size: size, start: position, mark: mark, midLine: true)
                }
                let length = min(chunk, position)
                var buffer = [UInt8](repeating: 0, count: length)
                let got = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, length, off_t(position - length)) }
                guard got == length else {
                    // Short read: what was collected starts at an arbitrary byte.
                    return window(collected(), lines: lines, size: size, start: position, mark: mark, midLine: true)
                }
                position -= length
                for index in stride(from: length - 1, through: 0, by: -1) where buffer[index] == UInt8(ascii: "\n") {
                    if skipTrailing && position + index == size - 1 {
                        if lines == 0 { return Window(text: [], end: Position(offset: size, rotation: mark), startsMidLine: false) }
                        continue
                    }
                    newlines += 1
                    if newlines == wanted {
                        chunks.append(buffer[(index + 1)...])
                        position += index + 1
                        break scan
                    }
                }
                skipTrailing = false
                chunks.append(buffer[...])
                collectedBytes += length
            }
            return window(collected(), lines: lines, size: size, start: position, mark: mark, midLine: position == 0 && continuesRotatedLine(path))
        }
    }

    /// The most of a log `last` reads back: lines asked for beyond it are not shown (a hundred
    /// thousand long lines, or one line of 50 MB, took a minute to gather, and held a thread of
    /// the pool that answers every request).
    static let windowBytes = 1 << 20

    private static func window(_ collected: [UInt8], lines: Int, size: Int, start: Int, mark: RotationMark?, midLine: Bool) -> Window {
        lines == 0
            ? Window(text: [], end: Position(offset: start, rotation: mark), startsMidLine: midLine)
            : Window(text: collected, end: Position(offset: size, rotation: mark), startsMidLine: midLine)
    }

    /// Bytes appended since `position` (up to 1 MiB), or, if the log was rotated since, from the
    /// start of the new log; and the new position.
    static func appended(to path: String, since position: Position) -> Reading<Appended> {
        locked(path) { fd in
            let size = Int(lseek(fd, 0, SEEK_END))
            let mark = rotationMark(of: path)
            let emptied = size < position.offset
            let rotated = mark != position.rotation || emptied
            let startsMidLine = rotated && (mark == position.rotation || continuesRotatedLine(path))
            let start = rotated ? 0 : position.offset
            guard size > start else { return Appended(bytes: [], end: Position(offset: start, rotation: mark), rotated: rotated, startsMidLine: startsMidLine) }
            let length = min(size - start, 1 << 20)
            var buffer = [UInt8](repeating: 0, count: length)
            let got = max(buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, length, off_t(start)) }, 0)
            return Appended(bytes: Array(buffer[0..<got]), end: Position(offset: start + got, rotation: mark), rotated: rotated, startsMidLine: startsMidLine)
        }
    }

    /// Runs `body` on the open log with its flock held shared. Without waiting: a rotation
    /// holds it while it copies up to `log_max_bytes`, and this runs on the concurrency pool.
    private static func locked<Value>(_ path: String, _ body: (Int32) -> Value) -> Reading<Value> {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { return .missing }
        defer { close(fd) }
        if flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK { return .busy }
        return .read(body(fd))
    }

    private static func rotationMark(of path: String) -> RotationMark? {
        var info = stat()
        guard lstat(DataDirectory.rotatedCopy(of: path), &info) == 0 else { return nil }
        return RotationMark(inode: UInt64(info.st_ino), changedSeconds: Int(info.st_ctim.tv_sec), changedNanoseconds: Int(info.st_ctim.tv_nsec))
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
}

extension LogTail.Reading: Sendable where Value: Sendable {}
