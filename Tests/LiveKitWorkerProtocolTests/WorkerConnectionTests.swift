import CorralTestSupport
import Foundation
import LiveKitWorkerProtocol
import Logging
import Testing

/// A WorkerConnection against the test LiveKit server (Tests/Fixtures/livekit_test_server.py,
/// built on LiveKit's own protobufs and token verifier), driven through its control API.
@Suite("LiveKit worker connection", .enabled(if: livekitAgentsPython != nil, "\(livekitAgentsSkipped)"))
struct WorkerConnectionTests {
    /// A started connection for `agent` to `server`, run until `body` returns, then cancelled; it
    /// must stop in time.
    func withWorker<T>(
        _ server: LiveKitTestServer,
        agent: String = "test-agent",
        secret: String? = nil,
        delegate: RecordingDelegate = RecordingDelegate(),
        configure: (inout WorkerConnectionConfiguration) -> Void = { _ in },
        _ body: (WorkerConnection, RecordingDelegate) async throws -> T
    ) async throws -> T {
        var logger = Logger(label: "livekit-worker-test")
        logger.logLevel = .debug
        var configuration = try WorkerConnectionConfiguration(
            livekitURL: server.url, apiKey: server.apiKey, apiSecret: secret ?? server.apiSecret, agentName: agent, version: "corral-test"
        )
        // A registration the test LiveKit server (Python) answers late on a busy host is not what
        // these tests are about: a generous deadline, unless the test sets its own.
        configuration.registerTimeout = .seconds(30)
        configure(&configuration)
        let connection = WorkerConnection(configuration: configuration, delegate: delegate, logger: logger)
        let running = Task { await connection.run() }
        let result: Result<T, any Error>
        do { result = .success(try await body(connection, delegate)) } catch { result = .failure(error) }
        running.cancel()
        let stopped = await Eventually.result(of: Task { await running.value }, within: .seconds(20))
        #expect(stopped != nil, "run() did not return after cancellation")
        #expect(await connection.state.phase == .stopped)
        return try result.get()
    }

    func registered(_ connection: WorkerConnection, after registrations: Int = 0) async -> String? {
        _ = await ProcessProbe.waitUntil(timeout: .seconds(30)) {
            let state = await connection.state
            return state.connected && state.registrations > registrations
        }
        return await connection.state.workerID
    }

    @Test func registersWithAFreshTokenTheServerAccepts() async throws {
        try await LiveKitTestServer.with { server in
            let workerID = try await withWorker(server) { connection, delegate in
                let workerID = try #require(await registered(connection))
                #expect(await delegate.registrations == [workerID])
                let workers = try await server.workers()
                try #require(workers.count == 1)
                #expect(workers[0]["id"] as? String == workerID)
                #expect(workers[0]["agent_name"] as? String == "test-agent")
                #expect(workers[0]["version"] as? String == "corral-test")
                #expect(workers[0]["job_type"] as? String == "JT_ROOM")
                #expect(workers[0]["auth_via"] as? String == "header")
                #expect(workers[0]["connected"] as? Bool == true)
                return workerID
            }
            // Cancelled: the socket is closed, and the server sees the worker go.
            let gone = try await ProcessProbe.waitUntil(timeout: .seconds(20)) {
                try await server.workers().first { $0["id"] as? String == workerID }?["connected"] as? Bool == false
            }
            #expect(gone)
            let state = try await server.control(.GET, "/control/state")
            #expect((state["refused"] as? [Any])?.isEmpty == true)
            #expect((state["protocol_errors"] as? [Any])?.isEmpty == true, "\(state["protocol_errors"] ?? [])")
        }
    }

    @Test func aWrongSecretIsRefusedAndRetriedWithBackoff() async throws {
        try await LiveKitTestServer.with { server in
            try await withWorker(server, secret: "not-the-secret") { connection, delegate in
                let retried = try await ProcessProbe.waitUntil(timeout: .seconds(90)) {
                    try await (server.control(.GET, "/control/state")["refused"] as? [Any])?.count ?? 0 >= 3
                }
                #expect(retried)
                let state = await connection.state
                #expect(!state.connected)
                #expect(state.workerID == nil)
                #expect(state.failures >= 2)
                #expect(state.lastError?.contains("refused the WebSocket upgrade") == true)
                #expect(await delegate.disconnects.count >= 2)
                #expect(await delegate.registrations.isEmpty)
                #expect(try await server.workers().isEmpty)
                let refused = try await server.control(.GET, "/control/state")["refused"] as? [[String: Any]] ?? []
                #expect(refused.allSatisfy { ($0["reason"] as? String)?.contains("token not accepted") == true })
            }
        }
    }

    @Test func offersAreAnsweredAsTheDelegateDecidesAndAssignmentsReachIt() async throws {
        try await LiveKitTestServer.with { server in
            try await withWorker(server) { connection, delegate in
                let workerID = try #require(await registered(connection))

                let accepted = try await server.control(.POST, "/control/dispatch", ["room": "support-1", "agent_name": "test-agent", "metadata": "m"])
                #expect(accepted["outcome"] as? String == "assigned")
                #expect(accepted["worker_id"] as? String == workerID)
                let jobID = try #require(accepted["job_id"] as? String)
                let job = try await server.job(jobID)
                #expect(job["participant"] as? [String: Any] != nil)
                let participant = try #require(job["participant"] as? [String: Any])
                #expect(participant["identity"] as? String == "agent-\(jobID)")
                #expect(participant["name"] as? String == "Corral Agent")
                #expect((participant["attributes"] as? [String: String])?["corral.profile"] == "test")
                #expect(await ProcessProbe.waitUntil { await delegate.assignments.count == 1 })
                let assignment = try #require(await delegate.assignments.first)
                #expect(assignment.job.id == jobID)
                #expect(assignment.job.room.name == "support-1")
                #expect(assignment.job.metadata == "m")
                #expect(assignment.token == accepted["token"] as? String)
                #expect(!assignment.token.isEmpty)
                #expect(!assignment.hasURL)

                let declined = try await server.control(.POST, "/control/dispatch", ["room": "decline-1", "agent_name": "test-agent"])
                #expect(declined["outcome"] as? String == "no_worker")
                #expect((declined["offers"] as? [[String: Any]])?.map { $0["answer"] as? String } == ["unavailable"])

                let terminated = try await server.control(.POST, "/control/dispatch", ["room": "terminate-1", "agent_name": "test-agent"])
                #expect(terminated["outcome"] as? String == "terminated")
                #expect(await delegate.offers.map(\.job.room.name) == ["support-1", "decline-1", "terminate-1"])
                #expect(await delegate.assignments.count == 1)
            }
        }
    }

    @Test func jobAndWorkerStatusesReachTheServer() async throws {
        try await LiveKitTestServer.with { server in
            try await withWorker(server) { connection, delegate in
                let workerID = try #require(await registered(connection))
                let jobID = try #require(try await server.control(.POST, "/control/dispatch", ["room": "r", "agent_name": "test-agent"])["job_id"] as? String)
                await connection.send(Livekit_UpdateJobStatus.with { $0.jobID = jobID; $0.status = .jsRunning })
                await connection.send(Livekit_UpdateWorkerStatus.with { $0.status = .wsFull; $0.load = 0.5; $0.jobCount = 1 })
                await connection.send(Livekit_UpdateJobStatus.with { $0.jobID = jobID; $0.status = .jsFailed; $0.error = "agent exited with status 1" })
                let reported = try await ProcessProbe.waitUntil { (try await server.job(jobID)["statuses"] as? [Any] ?? []).count == 2 }
                #expect(reported)
                let statuses = try await server.job(jobID)["statuses"] as? [[String: Any]] ?? []
                #expect(statuses.map { $0["status"] as? String } == ["JS_RUNNING", "JS_FAILED"])
                #expect(statuses.last?["error"] as? String == "agent exited with status 1")
                #expect(statuses.allSatisfy { $0["worker_id"] as? String == workerID })
                let worker = try #require(try await server.workers().first)
                #expect(worker["status"] as? String == "WS_FULL")
                #expect(worker["load"] as? Double == 0.5)
                #expect(worker["job_count"] as? Int == 1)
                #expect(worker["status_updates"] as? Int == 1)
                // A full worker is offered nothing.
                let offered = try await server.control(.POST, "/control/dispatch", ["room": "r2", "agent_name": "test-agent"])
                #expect(offered["outcome"] as? String == "no_worker")
                #expect(await delegate.offers.count == 1)
            }
        }
    }

    @Test func theServerEndsAJobThroughTheDelegate() async throws {
        try await LiveKitTestServer.with { server in
            try await withWorker(server) { connection, delegate in
                _ = try #require(await registered(connection))
                let jobID = try #require(try await server.control(.POST, "/control/dispatch", ["room": "r", "agent_name": "test-agent"])["job_id"] as? String)
                try await server.control(.POST, "/control/jobs/\(jobID)/terminate")
                #expect(await ProcessProbe.waitUntil { await delegate.terminations == [jobID] })
            }
        }
    }
}
