import Foundation
import Testing

@testable import CorralServer

/// The last lines of a session's log (`GET /api/sessions/{id}/logs?tail=N`).
@Suite("Log tail")
struct LogTailTests {
    private final class File {
        let path = NSTemporaryDirectory() + "corral-logtail-" + UUID().uuidString + ".log"
        init(_ bytes: [UInt8]) { _ = FileManager.default.createFile(atPath: path, contents: Data(bytes)) }
        deinit { try? FileManager.default.removeItem(atPath: path) }
    }

    private func last(_ lines: Int, of file: File) throws -> LogTail.Window {
        guard case .read(let window) = LogTail.last(lines, of: file.path) else { throw CancellationError() }
        return window
    }

    @Test func theLastLinesAndWhereFollowingGoesOn() throws {
        let file = File(Array("a\nb\nc\n".utf8))
        let window = try last(2, of: file)
        #expect(window.text == Array("b\nc\n".utf8))
        #expect(window.end.offset == 6)
        #expect(!window.startsMidLine)
    }

    /// Lines longer than the window (one line of megabytes, as a progress bar or a binary dump
    /// writes) give the window's worth, marked as starting mid-line. (All of it was gathered,
    /// quadratically: 42 s for a line of 50 MB.)
    @Test func aLineLongerThanTheWindowIsCut() throws {
        let long = [UInt8](repeating: UInt8(ascii: "p"), count: 3 * LogTail.windowBytes)
        let file = File(Array("first\n".utf8) + long + Array("\nlast\n".utf8))
        let window = try last(2, of: file)
        #expect(window.text.count <= LogTail.windowBytes + 64 * 1024)
        #expect(window.text.count >= LogTail.windowBytes)
        #expect(window.text.suffix(6) == Array("\nlast\n".utf8))
        #expect(window.startsMidLine)
        #expect(window.end.offset == long.count + 12)
    }
}
