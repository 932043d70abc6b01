import CleanSpawn
import CorralTestSupport
import Foundation
import Testing

@testable import CorralCore
@testable import CorralPlatform
@testable import CorralServer
@testable import CorralStore

/// What the CLI reads from the server: the types it decodes (`WireShapes.swift`) read what the
/// server writes, and an answer of another shape is a clear error, not a crash or a blank table.
@Suite("The CLI's reading of answers")
struct CLIAnswerTests {
    @Test func sessionsWrittenByTheServerDecode() throws {
        let record = SessionRecord(
            id: SessionID("call-7")!, agent: "demo", status: .running, pid: 4242, pgid: 4242, isGroupLeader: true,
            containment: .cgroup, createdAt: Date(timeIntervalSince1970: 1_795_953_924.0795),
            expiresAt: Date(timeIntervalSince1970: 1_795_968_324), metadata: ["room": "lobby"], logPath: "/x/call-7.log", node: nil,
            livekitRoom: nil, livekitIdentity: nil, start: .cold
        )
        let unspawned = SessionRecord(
            id: SessionID("call-8")!, agent: "demo", status: .starting, pid: nil, pgid: nil, isGroupLeader: false,
            containment: .processGroup, createdAt: Date(timeIntervalSince1970: 1_795_953_924), expiresAt: Date(timeIntervalSince1970: 1_795_968_324),
            metadata: [:], logPath: "/x/call-8.log", node: nil, livekitRoom: nil, livekitIdentity: nil, start: .cold
        )
        let list = SessionListJSON(sessions: [
            SessionJSON(record, usage: ResourceUsage(memoryBytes: 123_456_789, processes: 3)), SessionJSON(unspawned),
        ])
        let sessions = try JSONDecoder().decode(SessionListWire.self, from: Data(list.json.bytes)).sessions
        #expect(sessions.count == 2)
        #expect(sessions[0].sessionID == "call-7" && sessions[0].agent == "demo" && sessions[0].status == "running")
        #expect(sessions[0].containment == "cgroup" && sessions[0].startedAt == "2026-11-29T12:05:24.079Z")
        #expect(sessions[0].pid == 4242 && sessions[0].pgid == 4242 && sessions[0].processes == 3 && sessions[0].memoryBytes == 123_456_789)
        #expect(sessions[1].pid == nil && sessions[1].pgid == nil && sessions[1].processes == nil && sessions[1].memoryBytes == nil)
        let one = try JSONDecoder().decode(SessionWire.self, from: Data(SessionJSON(record).json.bytes))
        #expect(one.sessionID == "call-7")
    }

    /// A server answering 200 with JSON of another shape (a proxy's page, another version):
    /// exit 1 and a message naming what was wrong, where.
    @Test func aMalformedAnswerIsAClearError() async throws {
        let directory = NSTemporaryDirectory() + "corral-cli-answers-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let answers = [
            "api/sessions": #"{"sessions": [{"session_id": 7}]}"#,
            "api/debug/session/missing/processes": #"{"pid": 1, "pgid": 1, "is_process_alive": true, "child_processes": [], "errors": []}"#,
            "api/debug/session/html/processes": "<html>a proxy's page</html>",
        ]
        for (path, body) in answers {
            let file = directory + "/" + path
            try FileManager.default.createDirectory(atPath: (file as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try body.write(toFile: file, atomically: true, encoding: .utf8)
        }
        let log = directory + "/server.log"
        let pid = try spawnChild(
            ["/usr/bin/python3", "-u", "-m", "http.server", "0", "--bind", "127.0.0.1", "--directory", directory],
            output: .file(log), errors: .standardOutput
        )
        do {
            try await checkAnswers(log: log)
        } catch {
            await stopChild(pid)
            throw error
        }
        await stopChild(pid)
    }

    private func checkAnswers(log: String) async throws {
        var port: Int?
        _ = await ProcessProbe.waitUntil(timeout: .seconds(30)) {
            let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            port = text.range(of: " port ").flatMap { Int(text[$0.upperBound...].prefix(while: \.isNumber)) }
            return port != nil
        }
        let url = "http://127.0.0.1:\(try #require(port, "python's http.server did not start"))"
        func cli(_ arguments: String...) async throws -> CommandRunner.Result {
            try await CommandRunner.run(CorralProcess.executable, arguments, environment: ["CORRAL_URL": url])
        }

        let sessions = try await cli("sessions")
        #expect(sessions.status == 1)
        #expect(
            sessions.errors
                == "corral: cannot read corral's answer to GET /api/sessions?usage=true: sessions[0].session_id: expected a string. Is the server the same version as this CLI?\n",
            "\(sessions.errors)"
        )
        #expect(sessions.output.isEmpty)
        let missing = try await cli("inspect", "missing")
        #expect(missing.status == 1)
        #expect(missing.errors.contains("GET /api/debug/session/missing/processes: is_group_alive is missing."), "\(missing.errors)")
        let html = try await cli("inspect", "html")
        #expect(html.status == 1)
        #expect(html.errors.contains("GET /api/debug/session/html/processes: it is not JSON."), "\(html.errors)")
        // --json prints what came, as before: nothing is read from it.
        #expect(try await cli("sessions", "--json").status == 0)
    }
}
