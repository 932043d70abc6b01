import CorralTestSupport
import Foundation
import LiveKitWorkerProtocol
import Logging
import ServiceLifecycle
import Testing

/// How a worker connection gives up on a server and how it stops.
@Suite("LiveKit worker connection ends", .enabled(if: livekitAgentsPython != nil, "\(livekitAgentsSkipped)"))
struct WorkerStopTests {
    let connections = WorkerConnectionTests()

    /// The attempt's deadline runs from its TCP connect (3 s leave the connect and the upgrade
    /// time on a busy machine).
    @Test func aRegistrationWithoutAnswerIsGivenUpAndTriedAgain() async throws {
        try await LiveKitTestServer.with(script: LiveKitTestServer.silentScript) { server in
            try await connections.withWorker(server, configure: { $0.registerTimeout = .seconds(3) }) { connection, delegate in
                let retried = try await ProcessProbe.waitUntil(timeout: .seconds(60)) {
                    try await server.control(.GET, "/control/connections")["registers"] as? Int ?? 0 >= 2
                }
                #expect(retried)
                let state = await connection.state
                #expect(!state.connected)
                // Each attempt gives up at the registration (on a host too busy to finish the
                // upgrade within the 3 s, an attempt may give up there instead).
                let expected = "LiveKit did not answer the worker's registration within 3.0 s"
                #expect(await ProcessProbe.waitUntil(timeout: .seconds(60)) { await delegate.disconnects.contains(expected) }, "\(state)")
                #expect(await delegate.registrations.isEmpty)
                let others = await delegate.disconnects.filter { $0 != expected }
                #expect(others.allSatisfy { $0.contains("within 3.0 s") && !$0.contains("registration") }, "\(others)")
                // The connection it gave up on is closed, not left open beside the new one.
                let closed = try await ProcessProbe.waitUntil(timeout: .seconds(30)) {
                    try await server.control(.GET, "/control/connections")["open"] as? Int ?? 0 <= 1
                }
                #expect(closed)
            }
        }
    }

    @Test func aGracefulShutdownClosesTheSocketAndEndsTheService() async throws {
        try await LiveKitTestServer.with { server in
            var configuration = try WorkerConnectionConfiguration(
                livekitURL: server.url, apiKey: server.apiKey, apiSecret: server.apiSecret, agentName: "test-agent"
            )
            // One registration: on a busy host the default deadline could give up on an answer
            // on its way and register a second worker, which the count below would take for a
            // reconnect after the shutdown.
            configuration.registerTimeout = .seconds(30)
            let logger = Logger(label: "livekit-worker-test")
            let connection = WorkerConnection(configuration: configuration, delegate: RecordingDelegate(), logger: logger)
            let group = ServiceGroup(services: [connection], logger: logger)
            let running = Task { try await group.run() }
            let workerID = try #require(await connections.registered(connection))
            await group.triggerGracefulShutdown()
            let ended = await Eventually.result(of: running, within: .seconds(20))
            #expect(ended != nil, "the service group did not end after a graceful shutdown")
            if ended == nil { running.cancel() }
            #expect(await connection.state.phase == .stopped)
            let gone = try await ProcessProbe.waitUntil(timeout: .seconds(20)) {
                try await server.workers().first { $0["id"] as? String == workerID }?["connected"] as? Bool == false
            }
            #expect(gone)
            // It stopped: it did not take the closed socket for a drop and register again.
            #expect(try await server.workers().count == 1)
        }
    }
}
