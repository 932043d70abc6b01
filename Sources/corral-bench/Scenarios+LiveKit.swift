import AsyncHTTPClient
import CorralTestSupport
import Foundation
import NIOCore
import NIOHTTP1

#if canImport(Glibc)
import Glibc
#endif

/// corral as a LiveKit worker, against the test LiveKit agent server (the venv's python): how
/// long from an offer to `JS_RUNNING`, cold and warm, and 100 jobs offered at once to three
/// nodes.
extension Scenarios {
    struct LiveKitJobs: Codable {
        let cold: Distribution
        let warm: Distribution
        /// 100 jobs dispatched at once across three nodes: until every one is `JS_RUNNING`.
        let spreadWallMS: Double
        let spreadErrors: Int
        /// Jobs each node took.
        let perNode: [Int]
    }

    static let livekitKey = "APIbench"
    static let livekitSecret = "corral-bench-secret-0123456789-0123456789"

    static func livekitJobs(corralBinary: String, python: String, repository: String, work: String, tag: String, cycles: Int) async throws -> LiveKitJobs {
        let server = try await BenchLiveKitServer.start(python: python, script: repository + "/Tests/Fixtures/livekit_test_server.py")
        do {
            let jobs = try await livekitJobs(server: server, corralBinary: corralBinary, repository: repository, work: work, tag: tag, cycles: cycles)
            await server.stop()
            return jobs
        } catch {
            await server.stop()
            throw error
        }
    }

    private static func livekitJobs(
        server: BenchLiveKitServer, corralBinary: String, repository: String, work: String, tag: String, cycles: Int
    ) async throws -> LiveKitJobs {
        func config(_ node: Int, maxJobs: Int) -> [String: Any] {
            [
                "store": "sqlite:corral.db", "node_id": "bench-\(node)", "grace_seconds": 1, "max_sessions": 200,
                "session_starts_per_second": 1_000_000, "default_agent": "lk-cold",
                "livekit": ["url": server.url, "api_key": livekitKey, "api_secret": livekitSecret],
                "agents": [
                    "lk-cold": ["command": ["sleep", "100000"], "env": ["CORRAL_BENCH": tag], "livekit_worker": ["agent_name": "bench-cold", "max_jobs": maxJobs]],
                    "lk-warm": [
                        "command": ["/usr/bin/python3", repository + "/bench/prewarm_agent.py"], "ready": "notify", "prewarm": 2,
                        "env": ["CORRAL_BENCH": tag], "livekit_worker": ["agent_name": "bench-warm", "max_jobs": maxJobs],
                    ],
                ],
            ]
        }
        var nodes: [BenchCorral] = []
        defer { for node in nodes { kill(node.pid, SIGTERM) } }
        for node in 0..<3 {
            let directory = work + "/livekit-\(node)"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            nodes.append(try await BenchCorral.start(executable: corralBinary, directory: directory, config: config(node, maxJobs: 50)))
        }
        try await server.waitForWorkers(6)
        var cold: [Double] = []
        var warm: [Double] = []
        for index in 0..<cycles {
            cold.append(try await server.dispatchUntilRunning(agent: "bench-cold", room: "cold-\(index)"))
            try await server.endAll()
            try await server.waitForIdleAgents(nodes, 2)
            warm.append(try await server.dispatchUntilRunning(agent: "bench-warm", room: "warm-\(index)"))
            try await server.endAll()
        }
        let rooms = (0..<100).map { "spread-\($0)" }
        let (wall, errors) = try await concurrently(rooms, width: 100) { room in
            try await server.dispatchUntilRunning(agent: "bench-cold", room: room)
        }
        let perNode = try await nodes.asyncMap { node in
            let reply = try await node.request(.GET, "/api/sessions")
            let json = try JSONSerialization.jsonObject(with: Data(reply.body.readableBytesView)) as? [String: Any]
            return (json?["sessions"] as? [Any])?.count ?? 0
        }
        try await server.endAll()
        for node in nodes { await node.stop() }
        nodes = []
        return LiveKitJobs(cold: Distribution(cold), warm: Distribution(warm), spreadWallMS: wall, spreadErrors: errors, perNode: perNode)
    }
}

/// The test LiveKit agent server (`Tests/Fixtures/livekit_test_server.py`, the tests'
/// `LiveKitTestServer`) for the benchmark.
final class BenchLiveKitServer: Sendable {
    let server: LiveKitTestServer
    var url: String { server.url }

    static func start(python: String, script: String) async throws -> BenchLiveKitServer {
        let server = LiveKitTestServer(script: script, apiKey: Scenarios.livekitKey, apiSecret: Scenarios.livekitSecret, python: python)
        try await server.start()
        SignalCleanup.shared.child(server.pid)
        return BenchLiveKitServer(server: server)
    }

    private init(server: LiveKitTestServer) {
        self.server = server
    }

    /// Stops it and removes its files.
    func stop() async {
        let pid = server.pid
        await server.remove()
        SignalCleanup.shared.childEnded(pid)
    }

    func control(_ method: HTTPMethod, _ path: String, body: [String: Any]? = nil) async throws -> [String: Any] {
        try await server.control(method, "/control/\(path)", body)
    }

    func waitForWorkers(_ count: Int) async throws {
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            let workers = try await control(.GET, "workers")["workers"] as? [[String: Any]] ?? []
            if workers.count(where: { $0["connected"] as? Bool == true }) >= count { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw BenchError("the corral nodes did not register with the test LiveKit server")
    }

    func waitForIdleAgents(_ nodes: [BenchCorral], _ count: Int) async throws {
        for node in nodes {
            let deadline = ContinuousClock.now + .seconds(60)
            while ContinuousClock.now < deadline {
                let reply = try await node.request(.GET, "/api/prewarm")
                let idle = (try JSONSerialization.jsonObject(with: Data(reply.body.readableBytesView)) as? [String: Any])?["idle"] as? [[String: Any]] ?? []
                if idle.count(where: { $0["state"] as? String == "ready" }) >= count { break }
                try await Task.sleep(for: .milliseconds(50))
            }
        }
    }

    /// Milliseconds from the dispatch (the offer follows at once) to the job's `JS_RUNNING`.
    func dispatchUntilRunning(agent: String, room: String) async throws -> Double {
        let began = ContinuousClock.now
        let dispatched = try await control(.POST, "dispatch", body: ["room": room, "agent_name": agent])
        guard dispatched["outcome"] as? String == "assigned", let id = dispatched["job_id"] as? String else {
            throw BenchError("no worker took the job: \(dispatched)")
        }
        let deadline = began + .seconds(60)
        while ContinuousClock.now < deadline {
            let job = try await control(.GET, "jobs/\(id)")
            if let statuses = job["statuses"] as? [[String: Any]], statuses.contains(where: { $0["status"] as? String == "JS_RUNNING" }) {
                return (ContinuousClock.now - began).ms
            }
            try await Task.sleep(for: .milliseconds(1))
        }
        throw BenchError("job \(id) never ran")
    }

    /// Dispatches one job; its id once a worker took it.
    func dispatch(agent: String, room: String) async throws -> String {
        let dispatched = try await control(.POST, "dispatch", body: ["room": room, "agent_name": agent])
        guard dispatched["outcome"] as? String == "assigned", let id = dispatched["job_id"] as? String else {
            throw BenchError("no worker took the job: \(dispatched)")
        }
        return id
    }

    /// Dispatches a job to each room, all at once (the server offers each without waiting for
    /// another's answer); their ids once every one is taken.
    func dispatchBatch(agent: String, rooms: [String]) async throws -> [String] {
        let answer = try await control(.POST, "dispatch_batch", body: ["jobs": rooms.map { ["room": $0, "agent_name": agent] }])
        let jobs = answer["jobs"] as? [[String: Any]] ?? []
        let ids = jobs.compactMap { $0["outcome"] as? String == "assigned" ? $0["job_id"] as? String : nil }
        guard jobs.count == rooms.count, ids.count == rooms.count else {
            throw BenchError("\(rooms.count - ids.count) of \(rooms.count) jobs dispatched at once were not taken: \(jobs.filter { $0["outcome"] as? String != "assigned" }.prefix(3))")
        }
        return ids
    }

    /// Waits until every job is `JS_RUNNING`; for each, when the server took its dispatch and
    /// when it heard `JS_RUNNING` (Unix seconds, the server's clock: the polling's pace is not in them).
    func waitUntilRunning(_ ids: [String]) async throws -> [(dispatched: Double, running: Double)] {
        let deadline = ContinuousClock.now + .seconds(120)
        while ContinuousClock.now < deadline {
            let jobs = try await control(.GET, "jobs?ids=" + ids.joined(separator: ","))["jobs"] as? [[String: Any]] ?? []
            let times: [(dispatched: Double, running: Double)] = jobs.compactMap { job in
                let statuses = job["statuses"] as? [[String: Any]] ?? []
                guard let dispatched = job["dispatched_at"] as? Double,
                    let running = statuses.first(where: { $0["status"] as? String == "JS_RUNNING" })?["at"] as? Double
                else { return nil }
                return (dispatched, running)
            }
            if times.count == ids.count { return times }
            try await Task.sleep(for: .milliseconds(ids.count == 1 ? 1 : 20))
        }
        throw BenchError("not every one of \(ids.count) jobs got to JS_RUNNING within 120 s")
    }

    /// Ends every running job (of `ids`, when given: jobs of a worker gone before it reported
    /// their ends still show `JS_RUNNING`) and waits for their ends to be reported.
    func endAll(_ ids: [String]? = nil) async throws {
        let jobs = try await control(.GET, "jobs" + (ids.map { "?ids=" + $0.joined(separator: ",") } ?? ""))["jobs"] as? [[String: Any]] ?? []
        let running = jobs.filter { ($0["status"] as? String) == "JS_RUNNING" }.compactMap { $0["id"] as? String }
        for id in running { _ = try await control(.POST, "jobs/\(id)/terminate") }
        let deadline = ContinuousClock.now + .seconds(60)
        for id in running {
            while ContinuousClock.now < deadline {
                let job = try await control(.GET, "jobs/\(id)")
                if (job["status"] as? String) != "JS_RUNNING" { break }
                try await Task.sleep(for: .milliseconds(5))
            }
        }
    }
}

extension Array {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var result: [T] = []
        for element in self { result.append(try await transform(element)) }
        return result
    }
}
