import CorralTestSupport
import Foundation
import LiveKitWorkerProtocol
import Logging
import ServiceLifecycle
import Testing

/// A server that takes the TCP connection and never answers (`MuteListener`): the worker gives up
/// at the attempt's deadline and tries again, takes the server's close for the end it is, and
/// stops at once while it waits.
@Suite("LiveKit worker against a server that does not answer")
struct WorkerUnansweredConnectTests {
    let connections = WorkerConnectionTests()

    /// Over `ws://` the worker waits for the upgrade's answer, over `wss://` for the TLS
    /// handshake's; either way it gives up at the deadline, closes that socket and connects again.
    @Test(arguments: [false, true])
    func aServerThatNeverAnswersIsGivenUpOnAtTheDeadline(secure: Bool) async throws {
        try await MuteListener.with { listener in
            // Its credentials only: it is never started.
            let credentials = LiveKitTestServer(port: listener.port)
            try await connections.withWorker(credentials, configure: {
                $0.endpoint = try! WorkerEndpoint(livekitURL: "\(secure ? "wss" : "ws")://127.0.0.1:\(listener.port)")
                $0.registerTimeout = .seconds(2)
            }) { connection, delegate in
                let retried = await ProcessProbe.waitUntil(timeout: .seconds(30)) { listener.accepted >= 2 }
                let state = await connection.state
                #expect(retried, "the worker did not connect again: \(state)")
                // An attempt gives up at the step the server never answers. (On a host too busy to
                // see its connect complete within the 2 s, an attempt may give up at the TCP
                // connect instead; a later one gets through to the step under test.)
                let step: WorkerConnectionStep = secure ? .tlsHandshake : .upgrade
                let expected = WorkerConnectionError.timedOut(step: step, seconds: 2).description
                let seen = await ProcessProbe.waitUntil(timeout: .seconds(60)) { await delegate.disconnects.contains(expected) }
                let disconnects = await delegate.disconnects
                #expect(seen, "\(disconnects)")
                let others = disconnects.filter { $0 != expected }
                #expect(others.allSatisfy { $0 == WorkerConnectionError.timedOut(step: .tcpConnect, seconds: 2).description }, "\(others)")
                if !secure {
                    #expect(listener.receivedText.hasPrefix("GET /agent HTTP/1.1\r\n"), "\(listener.receivedText.prefix(200))")
                }
                #expect(await !connection.state.connected)
                // The socket given up on is closed, not left open beside the new one.
                #expect(await ProcessProbe.waitUntil(timeout: .seconds(30)) { listener.open <= 1 })
            }
        }
    }

    /// The server closes while the worker waits for the upgrade's answer, and a LiveKit server
    /// listens on the same port: the worker registers with it long before the attempt's deadline
    /// (two minutes here), since the close ended the attempt.
    @Test(.enabled(if: livekitAgentsPython != nil, "\(livekitAgentsSkipped)"))
    func aServerThatClosesBeforeAnsweringIsLeftForTheNextOneOnItsPort() async throws {
        let listener = try await MuteListener.start()
        let server = LiveKitTestServer(port: listener.port)
        do {
            try await connections.withWorker(server, configure: {
                $0.registerTimeout = .seconds(120)
                $0.backoff = ReconnectBackoff(initial: .milliseconds(200), maximum: .seconds(2))
            }) { connection, delegate in
                let asked = await ProcessProbe.waitUntil(timeout: .seconds(30)) { listener.receivedText.contains("GET /agent HTTP/1.1") }
                try #require(asked, "the worker did not ask for the upgrade")
                await listener.close()
                try await server.start()
                let registered = await connections.registered(connection)
                let state = await connection.state
                let workerID = try #require(registered, "not registered: \(state)")
                #expect(try await server.workers().map { $0["id"] as? String } == [workerID])
                #expect(await delegate.disconnects.first == WorkerConnectionError.closedBeforeUpgrade.description)
            }
        } catch {
            await listener.close()
            await server.remove()
            throw error
        }
        await listener.close()
        await server.remove()
    }

    /// Cancelled (as a task) while the upgrade is unanswered and the deadline is minutes away, the
    /// connection cuts the socket and returns at once (`withWorker` gives it 20 s).
    @Test func aCancellationWhileTheUpgradeIsUnansweredReturnsAtOnce() async throws {
        try await MuteListener.with { listener in
            try await connections.withWorker(LiveKitTestServer(port: listener.port), configure: { $0.registerTimeout = .seconds(120) }) { connection, _ in
                let asked = await ProcessProbe.waitUntil(timeout: .seconds(30)) { listener.receivedText.contains("GET /agent HTTP/1.1") }
                try #require(asked, "the worker did not ask for the upgrade")
                #expect(await connection.state.phase == .connecting)
            }
            #expect(await ProcessProbe.waitUntil(timeout: .seconds(30)) { listener.open == 0 })
            #expect(listener.accepted == 1)
        }
    }

    /// The same as a service: graceful shutdown (what SIGTERM is to corral) ends it at once.
    @Test func aGracefulShutdownWhileTheUpgradeIsUnansweredEndsTheServiceAtOnce() async throws {
        try await MuteListener.with { listener in
            var configuration = try WorkerConnectionConfiguration(
                livekitURL: listener.url, apiKey: "APIcorraltest", apiSecret: "corral-test-secret-0123456789-0123456789", agentName: "test-agent"
            )
            configuration.registerTimeout = .seconds(120)
            let logger = Logger(label: "livekit-worker-test")
            let connection = WorkerConnection(configuration: configuration, delegate: RecordingDelegate(), logger: logger)
            let group = ServiceGroup(services: [connection], logger: logger)
            let running = Task { try await group.run() }
            let asked = await ProcessProbe.waitUntil(timeout: .seconds(30)) { listener.receivedText.contains("GET /agent HTTP/1.1") }
            #expect(asked, "the worker did not ask for the upgrade")
            await group.triggerGracefulShutdown()
            let ended = await Eventually.result(of: running, within: .seconds(20))
            #expect(ended != nil, "the service group did not end after a graceful shutdown")
            if ended == nil { running.cancel() }
            #expect(await connection.state.phase == .stopped)
            #expect(await connection.state.lastError == nil, "it stopped without waiting for the deadline")
            #expect(await ProcessProbe.waitUntil(timeout: .seconds(30)) { listener.open == 0 })
        }
    }
}
