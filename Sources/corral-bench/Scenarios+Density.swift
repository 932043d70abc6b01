import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The same livekit-agents agent (`bench/livekit_density_agent.py`) under LiveKit's own worker
/// (`num_idle_processes=2`) and under corral (a template profile with `prewarm: 2`), each on the
/// test LiveKit agent server, in one run. For each job count, the jobs are dispatched one after
/// another, then all at once; between batches they are terminated and the side settles back to
/// idle. Each batch gives PSS summed over every process (the worker or corral included, the
/// jobs' helpers too) idle and with every job running, dispatch → `JS_RUNNING` (on the server's
/// clock), the time from the first dispatch until all run, and the jobs' `setsid` helpers left
/// after the jobs were terminated.
extension Scenarios {
    struct DensityBatch: Codable {
        let jobs: Int
        /// All dispatched at once (else one after another, each once the previous one ran).
        let concurrent: Bool
        let processesIdle: Int
        let idlePSSMB: Double
        let busyPSSMB: Double
        /// Each job's dispatch → `JS_RUNNING`, ms.
        let running: Distribution
        /// The first dispatch → the last job's `JS_RUNNING`, ms.
        let allRunningMS: Double
        let helpersLeft: Int
        var perJobPSSMB: Double { (busyPSSMB - idlePSSMB) / Double(max(jobs, 1)) }
    }

    struct DensitySide: Codable {
        let batches: [DensityBatch]
    }

    struct Density: Codable {
        let counts: [Int]
        let livekit: DensitySide
        let corral: DensitySide
    }

    static func density(corralBinary: String, python: String, repository: String, work: String, tag: String, counts: [Int]) async throws -> Density {
        // The helpers' argument, unique to the run and side, is how the benchmark finds them;
        // whatever fails, none outlives the run.
        let helpers = (livekit: "86400.\(Int.random(in: 100_000...999_999))", corral: "86401.\(Int.random(in: 100_000...999_999))")
        defer { for pid in densityHelpers(helpers.livekit) + densityHelpers(helpers.corral) { kill(pid, SIGKILL) } }
        SignalCleanup.shared.helpers(helpers.livekit)
        SignalCleanup.shared.helpers(helpers.corral)
        let server = try await BenchLiveKitServer.start(python: python, script: repository + "/Tests/Fixtures/livekit_test_server.py")
        do {
            let agent = repository + "/bench/livekit_density_agent.py"
            print("density: LiveKit's worker")
            let livekit = try await livekitSide(server: server, python: python, agent: agent, work: work, tag: tag, helper: helpers.livekit, counts: counts)
            try await waitUntilGone(server)
            print("density: corral")
            let corral = try await corralSide(
                server: server, corralBinary: corralBinary, python: python, agent: agent, work: work, tag: tag, helper: helpers.corral, counts: counts
            )
            await server.stop()
            return Density(counts: counts, livekit: livekit, corral: corral)
        } catch {
            await server.stop()
            throw error
        }
    }

    /// LiveKit's worker, from the same file: `start` through LiveKit's CLI.
    private static func livekitSide(
        server: BenchLiveKitServer, python: String, agent: String, work: String, tag: String, helper: String, counts: [Int]
    ) async throws -> DensitySide {
        let worker = try spawnWorker(
            python: python, agent: agent, log: work + "/livekit-worker.log",
            environment: [
                "LIVEKIT_URL": server.url, "LIVEKIT_API_KEY": livekitKey, "LIVEKIT_API_SECRET": livekitSecret,
                "BENCH_HELPER": helper, "CORRAL_BENCH": tag, "PYTHONDONTWRITEBYTECODE": "1",
            ]
        )
        SignalCleanup.shared.worker(worker)
        defer { SignalCleanup.shared.workerEnded(worker) }
        do {
            try await server.waitForWorkers(1)
            // Its forkserver, inference process (if any) and idle job processes: until their
            // number has not changed for three seconds.
            let idle = try await settled { descendants(of: worker).count }
            let side = DensityRun(server: server, tree: { descendants(of: worker) }, helper: helper, prefix: "livekit") {
                try await settled(toAtMost: idle) { descendants(of: worker).count }
            }
            let batches = try await side.batches(counts)
            endTree(worker)
            return DensitySide(batches: batches)
        } catch {
            endTree(worker)
            throw error
        }
    }

    /// corral: the same agent as a template profile with `prewarm: 2`, allowed well over 50 jobs.
    private static func corralSide(
        server: BenchLiveKitServer, corralBinary: String, python: String, agent: String, work: String, tag: String, helper: String, counts: [Int]
    ) async throws -> DensitySide {
        let directory = work + "/density-corral"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let most = counts.max() ?? 0
        let config: [String: Any] = [
            "store": "sqlite:corral.db", "node_id": "density", "grace_seconds": 10, "max_sessions": 2 * most + 10,
            "startup_timeout_seconds": 120, "session_starts_per_second": 1_000_000, "default_agent": "density",
            "livekit": ["url": server.url, "api_key": livekitKey, "api_secret": livekitSecret],
            "agents": [
                "density": [
                    "command": [python, agent], "ready": "notify", "template": ["max_queued_forks": 2 * most + 10], "prewarm": 2,
                    "env": ["CORRAL_BENCH": tag, "BENCH_HELPER": helper, "PYTHONDONTWRITEBYTECODE": "1"],
                    "livekit_worker": ["agent_name": "bench-density", "max_jobs": 2 * most + 10],
                ]
            ],
        ]
        let corral = try await BenchCorral.start(executable: corralBinary, directory: directory, config: config)
        do {
            try await server.waitForWorkers(1)
            try await server.waitForIdleAgents([corral], 2)
            let idle = try await settled { descendants(of: corral.pid).count }
            let side = DensityRun(server: server, tree: { descendants(of: corral.pid) }, helper: helper, prefix: "corral") {
                try await server.waitForIdleAgents([corral], 2)
                return try await settled(toAtMost: idle) { descendants(of: corral.pid).count }
            }
            let batches = try await side.batches(counts)
            await corral.stop()
            return DensitySide(batches: batches)
        } catch {
            await corral.stop()
            throw error
        }
    }

    /// `count()` once it has not changed for three seconds (at most two minutes).
    static func settled(_ count: () -> Int) async throws -> Int {
        try await settled(toAtMost: .max, count)
    }

    /// `count()` once it is at most `target` and has not changed for three seconds (at most two
    /// minutes; then whatever it is).
    static func settled(toAtMost target: Int, _ count: () -> Int) async throws -> Int {
        var last = count()
        var since = ContinuousClock.now
        let deadline = ContinuousClock.now + .seconds(120)
        while ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(200))
            let now = count()
            if now != last {
                last = now
                since = .now
            } else if now <= target, ContinuousClock.now - since >= .seconds(3) {
                return now
            }
        }
        return last
    }

    private static func waitUntilGone(_ server: BenchLiveKitServer) async throws {
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            let workers = try await server.control(.GET, "workers")["workers"] as? [[String: Any]] ?? []
            if !workers.contains(where: { $0["connected"] as? Bool == true }) { return }
            try await Task.sleep(for: .milliseconds(50))
        }
    }
}

/// One side's batches: for each count, one after another and then all at once.
private struct DensityRun {
    let server: BenchLiveKitServer
    /// The side's processes (the worker or corral and everything below it).
    let tree: () -> [Int32]
    /// The helpers' argument.
    let helper: String
    let prefix: String
    /// Waits until the side is idle again; its number of processes.
    let settle: () async throws -> Int

    func batches(_ counts: [Int]) async throws -> [Scenarios.DensityBatch] {
        var batches: [Scenarios.DensityBatch] = []
        for count in counts {
            for concurrent in [false, true] {
                print("density: \(prefix), \(count) jobs " + (concurrent ? "at once" : "one after another"))
                batches.append(try await batch(count, concurrent: concurrent))
            }
        }
        return batches
    }

    private func batch(_ count: Int, concurrent: Bool) async throws -> Scenarios.DensityBatch {
        let processesIdle = try await settle()
        let idle = Scenarios.pssMB(tree())
        let rooms = (0..<count).map { "\(prefix)-\(count)-\(concurrent ? "all" : "seq")-\($0)" }
        var ids: [String] = []
        if concurrent {
            ids = try await server.dispatchBatch(agent: "bench-density", rooms: rooms)
        } else {
            for room in rooms {
                let id = try await server.dispatch(agent: "bench-density", room: room)
                _ = try await server.waitUntilRunning([id])
                ids.append(id)
            }
        }
        let times = try await server.waitUntilRunning(ids)
        // Every job has started its helper (they are counted among the busy processes).
        let deadline = ContinuousClock.now + .seconds(60)
        while Scenarios.densityHelpers(helper).count < count, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        let busy = Scenarios.pssMB(Array(Set(tree() + Scenarios.densityHelpers(helper))))
        try await server.endAll(ids)
        // What the jobs' ends leave: given the time a job takes to shut down.
        try await Task.sleep(for: .seconds(3))
        let left = Scenarios.densityHelpers(helper)
        for pid in left { kill(pid, SIGKILL) }
        let first = times.map { $0.dispatched }.min() ?? 0
        let last = times.map { $0.running }.max() ?? 0
        return Scenarios.DensityBatch(
            jobs: count, concurrent: concurrent, processesIdle: processesIdle, idlePSSMB: idle, busyPSSMB: busy,
            running: Distribution(times.map { ($0.running - $0.dispatched) * 1000 }), allRunningMS: (last - first) * 1000, helpersLeft: left.count
        )
    }
}
