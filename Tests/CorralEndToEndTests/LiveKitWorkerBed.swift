import CorralCore
import CorralTestSupport
import Foundation
import NIOHTTP1
import Testing

/// corral as a LiveKit agent worker, for real: a test LiveKit server
/// (`Tests/Fixtures/livekit_test_server.py`) and one or more `corral` binaries (each a
/// `CrashTestBed`: its own data directory, port and tag) whose `livekit` names that server. Worker
/// profiles added with `addWorker` run their agents with the bed's tag, so whatever a test leaves
/// behind is found, killed and fails it. Each node is stopped (SIGTERM) before the server, so
/// its workers still report their jobs' ends while corral stops.
final class LiveKitWorkerBed: @unchecked Sendable {
    let server: LiveKitTestServer
    let nodes: [CrashTestBed]

    var node: CrashTestBed { nodes[0] }

    private init(server: LiveKitTestServer, nodes: [CrashTestBed]) {
        self.server = server
        self.nodes = nodes
    }

    /// Runs `body` with a started server and `nodes` corral beds (not started: add workers, then
    /// `startCorral`), and always finishes them. A node's `extra` keys go into its configuration.
    static func run(
        nodes count: Int = 1,
        extra: [String: Any] = [:],
        sourceLocation: SourceLocation = #_sourceLocation,
        _ body: (LiveKitWorkerBed) async throws -> Void
    ) async throws {
        let server = LiveKitTestServer()
        var nodes: [CrashTestBed] = []
        func finish() async {
            for node in nodes { await node.finish(sourceLocation: sourceLocation) }
            await server.remove()
        }
        do {
            try await server.start()
            for index in 0..<count {
                let node = try CrashTestBed(containment: testedModes.first!, extra: extra)
                node.config["livekit"] = ["url": server.url, "api_key": server.apiKey, "api_secret": server.apiSecret]
                node.config["node_id"] = "node-\(index)"
                nodes.append(node)
            }
            try await body(LiveKitWorkerBed(server: server, nodes: nodes))
        } catch {
            if !server.log.isEmpty { print("LiveKit test server's log:\n\(server.log.suffix(4000))") }
            await finish()
            throw error
        }
        await finish()
    }

    /// Adds a worker profile to every node: `command` run with the bed's tag, `livekit_worker`
    /// with `agent_name` and `worker`'s keys, and `profile`'s keys (limits, `ready`, `env`
    /// entries, …).
    func addWorker(_ name: String, command: [String], agentName: String, worker: [String: Any] = [:], profile: [String: Any] = [:]) {
        for node in nodes {
            var settings = worker
            settings["agent_name"] = agentName
            var entry: [String: Any] = ["command": command, "env": ["CORRAL_TEST_RUN": node.tag], "livekit_worker": settings]
            for (key, value) in profile {
                if key == "env", let env = value as? [String: String] {
                    entry["env"] = env.merging(["CORRAL_TEST_RUN": node.tag]) { $1 }
                } else {
                    entry[key] = value
                }
            }
            var agents = node.config["agents"] as? [String: Any] ?? [:]
            agents[name] = entry
            node.config["agents"] = agents
        }
    }

    /// Starts every node's corral and waits until `workers` workers (in all) are registered.
    @discardableResult
    func startCorrals(workers: Int) async throws -> [CorralProcess] {
        var started: [CorralProcess] = []
        for node in nodes { started.append(try await node.startCorral()) }
        let registered = try await ProcessProbe.waitUntil(timeout: .seconds(60)) { try await server.connectedWorkers().count == workers }
        let known = try await server.workers()
        try #require(registered, "\(workers) workers did not register: \(known); \(started.map { $0.log.suffix(2000) })")
        return started
    }
}

/// The id of the corral session that runs a LiveKit job.
func jobSession(_ jobID: String) -> String { "lk-" + jobID }

extension LiveKitTestServer {
    /// Dispatches a job (`/control/dispatch`); answers once it is settled.
    func dispatch(agentName: String, room: String, metadata: String = "") async throws -> [String: Any] {
        try await control(.POST, "/control/dispatch", ["room": room, "agent_name": agentName, "metadata": metadata])
    }

    /// Dispatches a job that a worker must take: its id and the room token the server sent.
    func assign(agentName: String, room: String, metadata: String = "", sourceLocation: SourceLocation = #_sourceLocation) async throws -> (
        id: String, token: String
    ) {
        let answer = try await dispatch(agentName: agentName, room: room, metadata: metadata)
        let id = try #require(answer["job_id"] as? String, "\(answer)", sourceLocation: sourceLocation)
        try #require(answer["outcome"] as? String == "assigned", "job \(id) was not assigned: \(answer)", sourceLocation: sourceLocation)
        return (id, try #require(answer["token"] as? String, sourceLocation: sourceLocation))
    }

    func connectedWorkers() async throws -> [[String: Any]] {
        try await workers().filter { $0["connected"] as? Bool == true }
    }

    /// The connected worker registered under `agentName`.
    func worker(_ agentName: String) async throws -> [String: Any]? {
        try await connectedWorkers().first { $0["agent_name"] as? String == agentName }
    }

    /// The statuses the worker reported for a job, in order (`JS_RUNNING`, …).
    func statuses(_ jobID: String) async throws -> [[String: Any]] {
        try await job(jobID)["statuses"] as? [[String: Any]] ?? []
    }

    /// Waits for a job's latest status to be `status`; fails the test (with what was reported)
    /// if it is not within `timeout`.
    func expectStatus(_ jobID: String, _ status: String, timeout: Duration = .seconds(60), sourceLocation: SourceLocation = #_sourceLocation)
        async throws
    {
        // A restarted server knows a job only once a worker reports it (404 until then).
        let reached = await ProcessProbe.waitUntil(timeout: timeout) { (try? await job(jobID))?["status"] as? String == status }
        if !reached {
            Issue.record("job \(jobID) did not reach \(status): \(try await statuses(jobID))", sourceLocation: sourceLocation)
        }
    }

    func terminate(_ jobID: String) async throws {
        try await control(.POST, "/control/jobs/\(jobID)/terminate")
    }

    func configure(_ settings: [String: Any]) async throws {
        try await control(.POST, "/control/config", settings)
    }

    /// Job ids the workers reported in `migrate_job`, over every registration.
    func migratedJobs() async throws -> [String] {
        try await control(.GET, "/control/migrations")["job_ids"] as? [String] ?? []
    }
}

extension CorralProcess {
    /// A live session's JSON, or nil once it is gone (404).
    func session(_ id: String, headers: [String: String] = [:]) async throws -> [String: Any]? {
        let reply = try await request(.GET, "/api/sessions/\(id)", headers: headers)
        return reply.status == 200 ? reply.json : nil
    }

    /// Waits for a session to be listed and its agent spawned (a pid).
    func waitForSession(_ id: String, headers: [String: String] = [:], timeout: Duration = .seconds(60)) async throws -> [String: Any]? {
        var found: [String: Any]?
        _ = try await ProcessProbe.waitUntil(timeout: timeout) {
            found = try await session(id, headers: headers)
            return found.map { $0.pid > 0 } ?? false
        }
        return found
    }
}
