import CorralCore
import CorralPlatform
import CorralTestSupport
import Foundation
import Testing
import CorralConfiguration

@Suite("Agents that end or fail by themselves")
struct AgentExitTests {
    @Test(arguments: testedStores)
    func agentExitingLeavesNoChildBehind(store: StoreKind) async throws {
        try await withStore(store) { location in try await TestCorral(store: location).run { client in
            let session = try await client.start(#"{"agent": "leave-child"}"#)
            #expect(try await ProcessProbe.waitUntil { try await client.isGone(session.id) })
            #expect(await session.nothingLeft())
        } }
    }

    @Test(arguments: testedStores)
    func crashingAgentIsRemoved(store: StoreKind) async throws {
        try await withStore(store) { location in try await TestCorral(store: location).run { client in
            let session = try await client.start(#"{"agent": "crash"}"#)
            #expect(try await ProcessProbe.waitUntil { try await client.isGone(session.id) })
            #expect(try await client.services.store.record(SessionID(session.id)!) == nil)
            #expect(await session.nothingLeft())
        } }
    }

    @Test(arguments: testedStores)
    func agentNeverReadyIsKilledAtTheStartupTimeout(store: StoreKind) async throws {
        // Long enough for the POST to answer before it on a loaded host.
        try await withStore(store) { location in try await TestCorral(store: location, configure: { $0.startupTimeoutSeconds = 10 }).run { client in
            let began = ContinuousClock.now
            let session = try await client.start(#"{"agent": "never-ready"}"#)
            // "starting" unless the reply came after the timeout (a starved test process).
            #expect(session.status == "starting" || ContinuousClock.now - began >= .seconds(10), "\(session.status)")
            #expect(try await ProcessProbe.waitUntil(timeout: .seconds(30)) { try await client.isGone(session.id) })
            #expect(ContinuousClock.now - began >= .seconds(10), "killed before startup_timeout_seconds")
            #expect(await session.nothingLeft())
        } }
    }

    @Test func agentReadyAfterADelayRuns() async throws {
        // A generous startup timeout: the test's requests must fit before it even on a loaded host
        // (with 20 s, a CI run at load 10-15 saw the session ended by it before it was ready).
        try await TestCorral(configure: { $0.startupTimeoutSeconds = 45 }).run { client in
            let readyFile = client.services.dataDirectory.path + "/ready-now"
            let began = ContinuousClock.now
            let session = try await client.start(#"{"agent": "ready-after-delay", "metadata": {"ready_file": "\#(readyFile)"}}"#)
            #expect(session.status == "starting")
            #expect(try await client.request(.get, "/api/sessions/\(session.id)").json["status"] as? String == "starting")
            #expect(FileManager.default.createFile(atPath: readyFile, contents: nil))
            #expect(try await ProcessProbe.waitUntil {
                try await client.request(.get, "/api/sessions/\(session.id)").json["status"] as? String == "running"
            })
            // Past the startup timeout it is still there: readiness cancelled the timer.
            try await Task.sleep(until: began + .seconds(45.5))
            #expect(try await client.request(.get, "/api/sessions/\(session.id)").status == .ok)
            #expect(try await client.request(.delete, "/api/sessions/\(session.id)").status == .ok)
            #expect(await session.nothingLeft())
        }
    }

    @Test func missingProgramIsAClearError() async throws {
        try await TestCorral(configure: { configuration in
            configuration.agents["missing"] = AgentProfile(command: ["/nonexistent/agent"])
        }).run { client in
            let reply = try await client.request(.post, "/api/sessions", body: #"{"agent": "missing", "session_id": "m1"}"#)
            #expect(reply.status == .internalServerError)
            #expect((reply.json["error"] as? String)?.contains("/nonexistent/agent") == true)
            #expect(try await client.isGone("m1"))
            #expect(try await client.services.store.allRecords().isEmpty)
        }
    }

    /// A script that is there, whose `#!` interpreter is not: the error names the interpreter (it
    /// said only "execve(script): No such file or directory").
    @Test func aScriptsMissingInterpreterIsNamed() async throws {
        let script = NSTemporaryDirectory() + "corral-no-interpreter-\(UUID().uuidString)"
        #expect(FileManager.default.createFile(atPath: script, contents: Data("#!/nonexistent/interpreter -u\necho\n".utf8), attributes: [.posixPermissions: 0o755]))
        defer { try? FileManager.default.removeItem(atPath: script) }
        try await TestCorral(configure: { configuration in
            configuration.agents["orphaned-script"] = AgentProfile(command: [script])
        }).run { client in
            let reply = try await client.request(.post, "/api/sessions", body: #"{"agent": "orphaned-script", "session_id": "i1"}"#)
            #expect(reply.status == .internalServerError)
            #expect((reply.json["error"] as? String)?.contains("the interpreter its #! line names, /nonexistent/interpreter, was not found") == true, "\(reply.text)")
            #expect(try await client.isGone("i1"))
        }
    }
}
