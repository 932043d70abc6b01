import CorralCore
import CorralTestSupport
import Foundation
import Synchronization
import Testing

/// Several corral nodes (each its own binary, data directory, port and node id; no shared
/// store) as workers of one LiveKit server: jobs offered to them at random find a node with
/// room, and each node takes no more than its `max_jobs`.
@Suite("LiveKit worker: several nodes", .enabled(if: livekitAgentsPython != nil, "\(livekitAgentsSkipped)"))
struct LiveKitWorkerClusterTests {
    /// Each node's `max_jobs`: 65 places for 60 jobs, so the small node fills up and says so
    /// while the others still have room.
    static let maxJobs = [10, 25, 30]
    static let jobs = 60
    static let batch = 10

    /// The most jobs seen at once, per worker (the server's `job_count`) and per node (its own
    /// session list), sampled while the jobs come.
    final class Peaks: Sendable {
        let reported = Mutex([String: Int]())
        let listed = Mutex([Int: Int]())

        func sample(_ server: LiveKitTestServer, _ corrals: [CorralProcess]) async {
            for worker in (try? await server.connectedWorkers()) ?? [] {
                guard let id = worker["id"] as? String, let count = worker["job_count"] as? Int else { continue }
                reported.withLock { $0[id] = max($0[id] ?? 0, count) }
            }
            for (index, corral) in corrals.enumerated() {
                guard let count = try? await corral.sessions().count else { continue }
                listed.withLock { $0[index] = max($0[index] ?? 0, count) }
            }
        }
    }

    @Test func sixtyJobsOverThreeNodesAllRunNoneAboveMaxJobsAndAllEndCleanly() async throws {
        try await LiveKitWorkerBed.run(nodes: Self.maxJobs.count) { lk in
            lk.addWorker("voice", command: ["sleep", "1000"], agentName: "voice")
            for (node, maxJobs) in zip(lk.nodes, Self.maxJobs) {
                var agents = node.config["agents"] as! [String: Any]
                var voice = agents["voice"] as! [String: Any]
                voice["livekit_worker"] = ["agent_name": "voice", "max_jobs": maxJobs]
                agents["voice"] = voice
                node.config["agents"] = agents
            }
            let corrals = try await lk.startCorrals(workers: Self.maxJobs.count)
            // Offers go to any node at random, full or not: each node's own answers must keep it
            // within its max_jobs.
            try await lk.server.configure(["offer_to_full_workers": true])
            let peaks = Peaks()
            let sampler = Task {
                while !Task.isCancelled {
                    await peaks.sample(lk.server, corrals)
                    try? await Task.sleep(for: .milliseconds(20))
                }
            }

            // Dispatched ten at a time: every job finds a node with room.
            var jobs: [String] = []
            for start in stride(from: 0, to: Self.jobs, by: Self.batch) {
                let answers = try await withThrowingTaskGroup(of: (String?, String?).self) { group in
                    for index in start..<(start + Self.batch) {
                        group.addTask {
                            let answer = try await lk.server.dispatch(agentName: "voice", room: "room-\(index)")
                            return (answer["job_id"] as? String, answer["outcome"] as? String)
                        }
                    }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
                for (job, outcome) in answers {
                    #expect(outcome == "assigned", "job \(job ?? "?") was refused while the nodes had room")
                    if let job { jobs.append(job) }
                }
            }
            #expect(jobs.count == Self.jobs)

            // Each job runs once, on one node, and each node within its max_jobs.
            var placed: [String: [Int]] = [:]
            #expect(try await ProcessProbe.waitUntil(timeout: .seconds(60)) {
                placed = [:]
                for (index, corral) in corrals.enumerated() {
                    for session in try await corral.sessions() where session.pid > 0 { placed[session.sessionID, default: []].append(index) }
                }
                return placed.count == Self.jobs
            })
            #expect(Set(placed.keys) == Set(jobs.map(jobSession)))
            #expect(placed.values.allSatisfy { $0.count == 1 }, "a job runs on one node only: \(placed.filter { $0.value.count > 1 })")
            for job in jobs { try await lk.server.expectStatus(job, "JS_RUNNING") }
            await peaks.sample(lk.server, corrals)
            sampler.cancel()
            _ = await sampler.value

            // Which node each worker is: where its jobs run.
            var nodeOfWorker: [String: Int] = [:]
            for job in jobs {
                if let worker = try await lk.server.job(job)["worker_id"] as? String, let node = placed[jobSession(job)]?.first { nodeOfWorker[worker] = node }
            }
            let listed = peaks.listed.withLock { $0 }
            for (node, maxJobs) in Self.maxJobs.enumerated() {
                #expect((listed[node] ?? 0) <= maxJobs, "node \(node) ran \(listed[node] ?? 0) jobs at once, max_jobs \(maxJobs)")
            }
            for (worker, most) in peaks.reported.withLock({ $0 }) {
                let node = try #require(nodeOfWorker[worker], "worker \(worker) took no job")
                #expect(most <= Self.maxJobs[node], "worker \(worker) of node \(node) reported \(most) jobs, max_jobs \(Self.maxJobs[node])")
            }
            var perNode: [Int] = []
            for corral in corrals { perNode.append(try await corral.sessions().count) }
            #expect(perNode.reduce(0, +) == Self.jobs)
            #expect(try await ProcessProbe.waitUntil(timeout: .seconds(30)) {
                try await lk.server.connectedWorkers().compactMap { $0["job_count"] as? Int }.sorted() == perNode.sorted()
            })

            // LiveKit ends them all, ten at a time: nothing of any job is left.
            for start in stride(from: 0, to: jobs.count, by: Self.batch) {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for job in jobs[start..<min(start + Self.batch, jobs.count)] {
                        group.addTask { try await lk.server.terminate(job) }
                    }
                    try await group.waitForAll()
                }
            }
            for job in jobs { try await lk.server.expectStatus(job, "JS_SUCCESS") }
            for corral in corrals {
                #expect(try await ProcessProbe.waitUntil(timeout: .seconds(30)) { try await corral.sessions().isEmpty })
            }
            for (index, node) in lk.nodes.enumerated() {
                #expect(await node.taggedProcesses().isEmpty, "processes of node \(index)'s jobs left")
            }
            #expect(try await ProcessProbe.waitUntil(timeout: .seconds(30)) {
                try await lk.server.connectedWorkers().allSatisfy { $0["job_count"] as? Int == 0 && $0["status"] as? String == "WS_AVAILABLE" }
            })
        }
    }
}
