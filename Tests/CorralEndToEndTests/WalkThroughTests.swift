import CorralTestSupport
import Foundation
import Testing

let curl: String? = ["/usr/bin/curl", "/bin/curl"].first { FileManager.default.isExecutableFile(atPath: $0) }

/// The README's walk-through, run as written against `corral serve` on its embedded defaults (no
/// configuration: the demo agent), started in a directory of the test's own as a reader starts it
/// in theirs. Only the port differs (the README's 8080 may be taken), and the cgroup root, which
/// is the test's own rather than the host's default.
@Suite("The README's walk-through")
struct WalkThroughTests {
    @Test(.enabled(if: curl != nil, "curl is not installed (.ci/run installs it); the walk-through test is skipped"))
    func theCommandsAnswerWhatTheReadmeShows() async throws {
        let walkThrough = try WalkThrough(MarkdownPage(path: "README.md"))
        #expect(walkThrough.steps.count >= 6, "\(walkThrough.steps.map(\.command))")
        #expect(walkThrough.steps.allSatisfy { !$0.expected.isEmpty }, "every command shows its answer")

        let directory = NSTemporaryDirectory() + "corral-walk-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let root = CgroupSupport.available ? CgroupSupport.newTestPath() : nil
        defer { if let root { CgroupSupport.removeTree(root) } }
        let corral = try await CorralProcess.start(
            config: nil, directory: directory, environment: root.map { ["CORRAL_CGROUP_ROOT": $0] } ?? [:], workingDirectory: directory
        )
        do {
            var pids = WalkThrough.Pids()
            for step in walkThrough.steps {
                let command = step.command.replacingOccurrences(of: "localhost:8080", with: "localhost:\(corral.port)")
                // Where this host gives corral no cgroups, it says so in `containment`.
                let expected = root == nil ? step.expected.replacingOccurrences(of: #""containment":"cgroup""#, with: #""containment":"process-group""#) : step.expected
                var output = ""
                let matched = try await ProcessProbe.waitUntil(timeout: .seconds(step.onlyReads ? 30 : 0), every: .milliseconds(200)) {
                    let result = try await CommandRunner.run("/bin/sh", ["-c", command], workingDirectory: directory)
                    output = result.output + result.errors
                    var seen = pids
                    guard result.status == 0, WalkThrough.matches(result.output, expected, pids: &seen) else { return false }
                    pids = seen
                    return true
                }
                #expect(matched, "\(step.command)\nanswered:\n\(output)\nthe README shows:\n\(step.expected)\n\(corral.log)")
                if !matched { break }
            }
        } catch {
            await corral.kill()
            throw error
        }
        #expect(await corral.terminate() == 0, "\(corral.log)")
        if let root { #expect(CgroupSupport.leftovers(ofRoot: root).isEmpty, "corral left its cgroup root \(root)") }
    }

    /// The matching itself: a value that differs, a missing or an extra member, a pid that
    /// changes fail; what `…` and a pid's stand-in cover passes.
    @Test func theAnswersAreComparedStrictly() {
        var pids = WalkThrough.Pids()
        #expect(WalkThrough.matches(#"{"a":"x","pid":31,"t":"2026"}"#, #"{"a":"x","pid":4711,"t":"…"}"#, pids: &pids))
        #expect(pids == [4711: 31])
        #expect(!WalkThrough.matches(#"{"a":"y","pid":31,"t":"2026"}"#, #"{"a":"x","pid":4711,"t":"…"}"#, pids: &pids))
        #expect(!WalkThrough.matches(#"{"a":"x","pid":32,"t":"2026"}"#, #"{"a":"x","pid":4711,"t":"…"}"#, pids: &pids))
        #expect(!WalkThrough.matches(#"{"a":"x","pid":31}"#, #"{"a":"x","pid":4711,"t":"…"}"#, pids: &pids))
        #expect(!WalkThrough.matches(#"{"a":"x","pid":31,"t":"2026","new":1}"#, #"{"a":"x","pid":4711,"t":"…"}"#, pids: &pids))
        #expect(WalkThrough.matches(#"{"a":"x","pid":31,"t":"2026","new":1}"#, #"{"a":"x","pid":4711, …}"#, pids: &pids))
        #expect(WalkThrough.matches(#"{"cmd":"/usr/bin/python3 /d/demo-agent.py"}"#, #"{"cmd":"…python3 …/demo-agent.py"}"#, pids: &pids))
        #expect(!WalkThrough.matches(#"{"cmd":"/usr/bin/python3 /d/other.py"}"#, #"{"cmd":"…python3 …/demo-agent.py"}"#, pids: &pids))
        #expect(WalkThrough.matches("[x call-1] starting (pid 31)\n[x call-1] helper pid 40\n", "[x call-1] starting (pid 4711)\n[x call-1] helper pid 4712", pids: &pids))
        #expect(pids == [4711: 31, 4712: 40])
        #expect(!WalkThrough.matches("[x call-1] helper pid 41\n", "[x call-1] helper pid 4712", pids: &pids))
        #expect(!WalkThrough.matches("[x call-1] helper pid 31\n", "[x call-1] helper pid 4713", pids: &pids), "a new stand-in is a new pid")
        #expect(WalkThrough.matches("404\n", "404", pids: &pids) && !WalkThrough.matches("200\n", "404", pids: &pids))
    }
}
