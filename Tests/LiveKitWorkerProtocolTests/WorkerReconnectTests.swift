import CorralTestSupport
import Foundation
import LiveKitWorkerProtocol
import Logging
import Testing

/// A WorkerConnection whose server goes away: it reconnects, registers again and reports the
/// delegate's running jobs in migrate_job; what was reported meanwhile arrives after.
@Suite("LiveKit worker reconnects", .enabled(if: livekitAgentsPython != nil, "\(livekitAgentsSkipped)"))
struct WorkerReconnectTests {
    let connections = WorkerConnectionTests()

    @Test(arguments: [false, true])
    func aDroppedConnectionIsRegisteredAgainWithItsJobs(abrupt: Bool) async throws {
        try await LiveKitTestServer.with { server in
            try await connections.withWorker(server) { connection, delegate in
                let first = try #require(await connections.registered(connection))
                let jobID = try #require(try await server.control(.POST, "/control/dispatch", ["room": "r", "agent_name": "test-agent"])["job_id"] as? String)
                await delegate.setRunningJobs([jobID])
                let closed = try await server.control(.POST, "/control/disconnect", ["abrupt": abrupt])
                #expect(closed["disconnected"] as? Int == 1)

                let second = try #require(await connections.registered(connection, after: 1))
                #expect(second != first)
                #expect(await delegate.registrations == [first, second])
                let reason = try #require(await delegate.disconnects.first)
                if !abrupt { #expect(reason.contains("1012"), "\(reason)") }
                let migrated = try await ProcessProbe.waitUntil {
                    try await (server.control(.GET, "/control/migrations")["migrations"] as? [[String: Any]] ?? []).count == 1
                }
                #expect(migrated)
                let migration = try #require((try await server.control(.GET, "/control/migrations")["migrations"] as? [[String: Any]])?.first)
                #expect(migration["worker_id"] as? String == second)
                #expect(migration["job_ids"] as? [String] == [jobID])
                #expect(try await server.job(jobID)["worker_id"] as? String == second)
            }
        }
    }

    @Test func aServerRestartOnTheSamePortGetsTheJobsAndWhatWasHeld() async throws {
        try await withRestartableServer { server, connection, delegate in
            await delegate.setRunningJobs(["AJ_still", "AJ_also"])
            await connection.send(Livekit_UpdateWorkerStatus.with { $0.status = .wsAvailable; $0.load = 0.25; $0.jobCount = 2 })
            await server.stop()
            #expect(await ProcessProbe.waitUntil(timeout: .seconds(30)) { await !connection.state.connected })
            // Reported while there is no connection: held, and only the latest per job.
            await connection.send(Livekit_UpdateJobStatus.with { $0.jobID = "AJ_done"; $0.status = .jsRunning })
            await connection.send(Livekit_UpdateJobStatus.with { $0.jobID = "AJ_done"; $0.status = .jsSuccess })
            #expect(await connection.state.phase != .stopped)

            try await server.start()
            let workerID = try #require(await connections.registered(connection, after: 1))
            let migrated = try await ProcessProbe.waitUntil {
                try await (server.control(.GET, "/control/migrations")["job_ids"] as? [String]) == ["AJ_still", "AJ_also"]
            }
            #expect(migrated)
            #expect(await ProcessProbe.waitUntil { (try? await server.job("AJ_done"))?["status"] as? String == "JS_SUCCESS" })
            let done = try await server.job("AJ_done")
            #expect((done["statuses"] as? [Any])?.count == 1)
            #expect(done["known"] as? Bool == false)
            // The worker's latest status is sent again after registering.
            #expect(try await ProcessProbe.waitUntil { try await server.workers().first?["job_count"] as? Int == 2 })
            let worker = try #require(try await server.workers().first)
            #expect(worker["id"] as? String == workerID)
            #expect(worker["load"] as? Double == 0.25)
        }
    }

    /// A status written to a connection whose server never reads it (frozen, then killed): it
    /// was not proven read by a pong, so it is sent again after the next registration. (Which
    /// statuses a pong proves read is `OutboxTests`'.)
    @Test func aStatusTheServerNeverReadIsSentAgain() async throws {
        try await withRestartableServer { server, connection, _ in
            kill(server.pid, SIGSTOP)
            await connection.send(Livekit_UpdateJobStatus.with { $0.jobID = "AJ_unread"; $0.status = .jsSuccess })
            kill(server.pid, SIGKILL)
            await server.stop()
            #expect(await ProcessProbe.waitUntil(timeout: .seconds(30)) { await !connection.state.connected })

            try await server.start()
            _ = try #require(await connections.registered(connection, after: 1))
            #expect(await ProcessProbe.waitUntil(timeout: .seconds(30)) { (try? await server.job("AJ_unread"))?["status"] as? String == "JS_SUCCESS" })
        }
    }

    /// A test server of the test's own, which `body` may stop and start again on the same port,
    /// and a worker registered with it; the server is removed however `body` ends.
    func withRestartableServer(
        _ body: (LiveKitTestServer, WorkerConnection, RecordingDelegate) async throws -> Void
    ) async throws {
        let server = LiveKitTestServer()
        do {
            try await server.start()
            try await connections.withWorker(server) { connection, delegate in
                _ = try #require(await connections.registered(connection))
                try await body(server, connection, delegate)
            }
        } catch {
            await server.remove()
            throw error
        }
        await server.remove()
    }
}
