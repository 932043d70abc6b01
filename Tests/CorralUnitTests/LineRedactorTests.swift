import CorralCore
import CorralSecurity
import Testing

@testable import CorralServer

/// A followed log, redacted line by line for readers who are not admins.
@Suite("Line redactor")
struct LineRedactorTests {
    static let redactor = Redactor()

    @Test func aSecretSplitAcrossReadsWaitsForItsLine() {
        var filter = LineRedactor(redactor: Self.redactor)
        #expect(filter.complete(Array("start\nTOK".utf8)) == Array("start\n".utf8))
        #expect(filter.complete(Array("EN=s3cr3t-value\n".utf8)) == Array("TOKEN=[redacted]\n".utf8))
    }

    /// Bytes that are not UTF-8 reach readers who are not admins as written, on lines with nothing
    /// to redact (an outside review: `corral logs --raw` of 300,000 random bytes gave 543,453, each
    /// invalid byte a U+FFFD); a line with a secret is redacted all the same.
    @Test func bytesThatAreNotUTF8PassAsWritten() {
        let binary: [UInt8] = [0xff, 0xfe, 0x00, 0x80, 0x41, 0xc3]
        let lines = binary + Array("\nTOKEN=s3cr3t-value \u{e9}".utf8) + [0xff] + Array("\n".utf8) + binary + Array("\n".utf8)
        var filter = LineRedactor(redactor: Self.redactor)
        let sent = filter.complete(lines)
        let expected = binary + Array("\nTOKEN=[redacted]".utf8)
        #expect(Array(sent.prefix(expected.count)) == expected, "\(sent)")
        #expect(Array(sent.suffix(binary.count + 1)) == binary + Array("\n".utf8), "\(sent)")
        #expect(LineRedactor(redactor: Self.redactor).all(binary) == binary)
    }

    /// An agent writing without newlines: the stream holds at most `longestLine` of it, sends that
    /// redacted, and leaves the rest of the line out.
    @Test func aLineWithoutEndIsNotHeldWhole() {
        var filter = LineRedactor(redactor: Self.redactor)
        let chunk = [UInt8](repeating: UInt8(ascii: "x"), count: 64 * 1024)
        var sent: [UInt8] = []
        for _ in 0..<(LineRedactor.longestLine / chunk.count) { sent += filter.complete(chunk) }
        #expect(sent.isEmpty, "a line under the limit waits for its end")
        sent += filter.complete(Array("TOKEN=s3cr3t-value".utf8))
        #expect(sent.count == LineRedactor.longestLine + "TOKEN=[redacted]\n".utf8.count)
        #expect(sent.suffix(17) == Array("TOKEN=[redacted]\n".utf8))
        // The rest of that line is left out, however long; the next line comes through.
        for _ in 0..<40 { #expect(filter.complete(chunk).isEmpty) }
        #expect(filter.complete(Array("more of it\nnext line\n".utf8)) == Array("next line\n".utf8))
    }

    /// Output that only returns the carriage (ffmpeg's or tqdm's progress): read mid-line (after
    /// a rotation), only the part before the first carriage return is left out, and followed, it
    /// comes as it goes. (It was left out whole, and held back until a megabyte had come.)
    @Test func aProgressBarIsShownAfterARotationAndAsItGoes() {
        #expect(LineRedactor(redactor: Self.redactor, startsMidLine: true).all(Array("1%\r2%\r3%".utf8)) == Array("2%\r3%".utf8))
        var filter = LineRedactor(redactor: Self.redactor, startsMidLine: true)
        #expect(filter.complete(Array("KEN=s3cr3t\r4%\r5".utf8)) == Array("4%\r".utf8))
        #expect(filter.complete(Array("%\rTOKEN=s3cr3t-value\r".utf8)) == Array("5%\rTOKEN=[redacted]\r".utf8))
    }

    /// A rotation cut the line being read: its start is sent redacted on a line of its own, and
    /// the new log's first partial line (the rest, where the secret stands without its name) is
    /// left out; the lines after it come through.
    @Test func aLineCutByRotationKeepsItsStartAndLosesItsRest() {
        var filter = LineRedactor(redactor: Self.redactor)
        #expect(filter.complete(Array("before\nTOKEN=".utf8)) == Array("before\n".utf8))
        #expect(filter.rotated(startsMidLine: true) == Array("TOKEN=\n".utf8))
        #expect(filter.complete(Array("s3cr3t-rest".utf8)).isEmpty)
        #expect(filter.complete(Array("-more\nafter\n".utf8)) == Array("after\n".utf8))
        // A log moved aside whole (its copy ends with a newline) starts the new one at a line.
        #expect(filter.complete(Array("API_KEY=V4LUE".utf8)).isEmpty)
        #expect(filter.rotated(startsMidLine: false) == Array("API_KEY=[redacted]\n".utf8))
        #expect(filter.complete(Array("first\n".utf8)) == Array("first\n".utf8))
        // Admins get the bytes as they are.
        var admin = LineRedactor(redactor: nil)
        #expect(admin.complete(Array("TOKEN=".utf8)) == Array("TOKEN=".utf8))
        #expect(admin.rotated(startsMidLine: true).isEmpty)
        #expect(admin.complete(Array("s3cr3t\n".utf8)) == Array("s3cr3t\n".utf8))
    }
}
