import CorralCore
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
}
