import CorralTestSupport
import Foundation
import Testing

/// `Tests/Fixtures/livekit_test_server.py` stands in for LiveKit server when corral is an agent
/// worker; `livekit_server_selftest.py` proves it a fair stand-in with LiveKit's own worker
/// (livekit-agents): registration, a job offered, accepted, running and terminated, rejections,
/// timeouts, a dropped connection (migrate_job) and a restart on the same port; plain clients
/// check its refusals and its choice of worker by status and load. The script
/// starts and ends every process it needs by pid and prints what failed.
@Suite("LiveKit test server", .enabled(if: livekitAgentsPython != nil, "\(livekitAgentsSkipped)"), .takingTurns(.livekitAgents))
struct LiveKitTestServerTests {
    @Test func livekitsOwnWorkerGetsAlongWithTheTestServer() async throws {
        let script = TestAgents.directory + "/../livekit_server_selftest.py"
        let result = try await CommandRunner.run(livekitAgentsPython!, [script], timeout: .seconds(600))
        #expect(result.status == 0, "\(result.output)\n\(result.errors)")
    }

    /// A restart is on the same port, which no other process can take while the server is down
    /// (a busy host's other tests once did, between a stop and a start).
    @Test func aRestartKeepsItsPortFromOthers() async throws {
        try await LiveKitTestServer.with { server in
            let port = server.port
            await server.stop()
            #expect(throws: (any Error).self) { close(try LiveKitTestServer.bindLoopback(port).descriptor) }
            try await server.start()
            #expect(server.port == port)
            #expect(try await server.workers().isEmpty)
        }
    }
}
