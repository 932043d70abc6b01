import CorralCore
import CorralPlatform
import Foundation
import Testing

@Suite("Reading /proc")
struct ProcStatTests {
    @Test func nameWithSpacesAndParentheses() throws {
        let line = "4242 (evil) name (x)) S 1 4242 4242 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 987654 1000 10 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n"
        let stat = try #require(ProcStat(parsing: Substring(line)))
        #expect(stat.pid == 4242)
        #expect(stat.name == "evil) name (x)")
        #expect(stat.state == "S")
        #expect(stat.ppid == 1)
        #expect(stat.pgid == 4242)
        #expect(stat.sid == 4242)
        #expect(stat.startTime == 987654)
    }

    @Test func truncatedLinesAreRejected() {
        #expect(ProcStat(parsing: "12 (sleep) S 1 12") == nil)
        #expect(ProcStat(parsing: "") == nil)
        #expect(ProcStat(parsing: "x (sleep) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20") == nil)
    }

    @Test func ownProcessIsReadable() throws {
        let stat = try #require(ProcFS.stat(getpid()))
        #expect(stat.pid == getpid())
        #expect(stat.ppid == getppid())
        #expect(stat.pgid == getpgrp())
        #expect(stat.startTime > 0)
        #expect(ProcFS.commandLine(getpid())?.isEmpty == false)
        #expect(ProcFS.stat(Int32.max) == nil, "a process that does not exist reads as nil")
    }
}
