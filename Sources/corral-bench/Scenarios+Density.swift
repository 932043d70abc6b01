import CleanSpawn
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The same livekit-agents agent (`bench/livekit_density_agent.py`) under LiveKit's own worker
/// (`num_idle_processes=2`) and under corral (a template profile with `prewarm: 2`), each on the
/// test LiveKit agent server, `jobs` jobs dispatched one after another: PSS summed over every
/// process (the worker or corral included), idle and with every job running, dispatch →
/// `JS_RUNNING`, and the jobs' `setsid` helpers left after the jobs were terminated.
extension Scenarios {
    struct DensitySide: Codable {
        let processesIdle: Int
        let idlePSSMB: Double
        let busyPSSMB: Double
        let running: Distribution
        let helpersLeft: Int
        var perJobPSSMB: Double { (busyPSSMB - idlePSSMB) / Double(max(running.count, 1)) }
    }

    struct Density: Codable {
        let jobs: Int
        let livekit: DensitySide
        let corral: DensitySide
    }

    static func density(corralBinary: String, python: String, repository: String, work: String, tag: String, jobs: Int) async throws -> Density {
        let server = try await BenchLiveKitServer.start(python: python, script: repository + "/Tests/Fixtures/livekit_test_server.py")
        do {
            let density = try await density(
                on: server, corralBinary: corralBinary, python: python, repository: repository, work: work, tag: tag, jobs: jobs
            )
            await server.stop()
            return density
        } catch {
            await server.stop()
            throw error
        }
    }

    private static func density(
        on server: BenchLiveKitServer, corralBinary: String, python: String, repository: String, work: String, tag: String, jobs: Int
    ) async throws -> Density {
        let agent = repository + "/bench/livekit_density_agent.py"

        // LiveKit's worker, from the same file: `start` through LiveKit's CLI.
        let livekitHelper = "86400.\(Int.random(in: 100_000...999_999))"
        let worker = try spawnWorker(
            python: python, agent: agent, log: work + "/livekit-worker.log",
            environment: [
                "LIVEKIT_URL": server.url, "LIVEKIT_API_KEY": livekitKey, "LIVEKIT_API_SECRET": livekitSecret,
                "BENCH_HELPER": livekitHelper, "CORRAL_BENCH": tag, "PYTHONDONTWRITEBYTECODE": "1",
            ]
        )
        let livekit: DensitySide
        do {
            try await server.waitForWorkers(1)
            // Its forkserver, inference process (if any) and idle job processes: until their
            // number has not changed for three seconds.
            let idle = try await settled { descendants(of: worker).count }
            livekit = try await measure(server: server, tree: { descendants(of: worker) }, helper: livekitHelper, jobs: jobs, prefix: "livekit", idleCount: idle)
        } catch {
            endTree(worker)
            throw error
        }
        endTree(worker)
        try await waitUntilGone(server)

        // corral: the same agent as a template profile.
        let corralHelper = "86400.\(Int.random(in: 100_000...999_999))"
        let directory = work + "/density-corral"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let config: [String: Any] = [
            "store": "sqlite:corral.db", "node_id": "density", "grace_seconds": 10, "max_sessions": 200, "startup_timeout_seconds": 120,
            "session_starts_per_second": 1_000_000, "default_agent": "density",
            "livekit": ["url": server.url, "api_key": livekitKey, "api_secret": livekitSecret],
            "agents": [
                "density": [
                    "command": [python, agent], "ready": "notify", "template": true, "prewarm": 2,
                    "env": ["CORRAL_BENCH": tag, "BENCH_HELPER": corralHelper, "PYTHONDONTWRITEBYTECODE": "1"],
                    "livekit_worker": ["agent_name": "bench-density", "max_jobs": 100],
                ]
            ],
        ]
        let corral = try await BenchCorral.start(executable: corralBinary, directory: directory, config: config)
        let side: DensitySide
        do {
            try await server.waitForWorkers(1)
            try await server.waitForIdleAgents([corral], 2)
            let idle = try await settled { descendants(of: corral.pid).count }
            side = try await measure(server: server, tree: { descendants(of: corral.pid) }, helper: corralHelper, jobs: jobs, prefix: "corral", idleCount: idle)
        } catch {
            await corral.stop()
            throw error
        }
        await corral.stop()
        return Density(jobs: jobs, livekit: livekit, corral: side)
    }

    private static func measure(
        server: BenchLiveKitServer, tree: () -> [Int32], helper: String, jobs: Int, prefix: String, idleCount: Int
    ) async throws -> DensitySide {
        let idle = pssMB(tree())
        var running: [Double] = []
        for index in 0..<jobs {
            running.append(try await server.dispatchUntilRunning(agent: "bench-density", room: "\(prefix)-\(index)"))
        }
        // Every job has started its helper (they are counted among the busy processes).
        let deadline = ContinuousClock.now + .seconds(60)
        while helpers(helper).count < jobs, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        let busy = pssMB(Array(Set(tree() + helpers(helper))))
        try await server.endAll()
        // What the jobs' ends leave: given the time a job takes to shut down.
        try await Task.sleep(for: .seconds(3))
        let left = helpers(helper)
        for pid in left { kill(pid, SIGKILL) }
        return DensitySide(processesIdle: idleCount, idlePSSMB: idle, busyPSSMB: busy, running: Distribution(running), helpersLeft: left.count)
    }

    /// `count()` once it has not changed for three seconds (at most two minutes).
    private static func settled(_ count: () -> Int) async throws -> Int {
        var last = count()
        var since = ContinuousClock.now
        let deadline = ContinuousClock.now + .seconds(120)
        while ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(200))
            let now = count()
            if now != last {
                last = now
                since = .now
            } else if ContinuousClock.now - since >= .seconds(3) {
                return now
            }
        }
        return last
    }

    /// `pid` and every process below it, by their parents in /proc.
    static func descendants(of pid: Int32) -> [Int32] {
        var children: [Int32: [Int32]] = [:]
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let child = Int32(entry), let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                let close = stat.lastIndex(of: ")")
            else { continue }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 2, fields[0] != "Z", let parent = Int32(fields[1]) else { continue }
            children[parent, default: []].append(child)
        }
        var found = [pid]
        var index = 0
        while index < found.count {
            found += children[found[index]] ?? []
            index += 1
        }
        return found
    }

    /// The run's helpers still alive: `sleep` with the run's argument.
    private static func helpers(_ argument: String) -> [Int32] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { entry in
            guard let pid = Int32(entry), let data = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline") else { return nil }
            let arguments = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            guard arguments.first?.hasSuffix("sleep") == true, arguments.dropFirst().first == argument else { return nil }
            let stat = (try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8)) ?? ""
            return stat.contains(") Z ") ? nil : pid
        }
    }

    /// The sum of the processes' PSS (`Pss:` of smaps_rollup), in MB.
    static func pssMB(_ pids: [Int32]) -> Double {
        var kilobytes = 0
        for pid in pids {
            guard let rollup = try? String(contentsOfFile: "/proc/\(pid)/smaps_rollup", encoding: .utf8),
                let line = rollup.split(separator: "\n").first(where: { $0.hasPrefix("Pss:") })
            else { continue }
            kilobytes += Int(line.split(separator: " ", omittingEmptySubsequences: true)[1]) ?? 0
        }
        return Double(kilobytes) / 1024
    }

    private static func spawnWorker(python: String, agent: String, log: String, environment: [String: String]) throws -> Int32 {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let inherited = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("CORRAL_") && !$0.key.hasPrefix("LIVEKIT_") && $0.key != "NOTIFY_SOCKET" }
        let argv: [UnsafeMutablePointer<CChar>?] = [python, agent, "start"].map { (argument: String) in strdup(argument) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = inherited.merging(environment) { $1 }.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        var pid: Int32 = 0
        guard withCleanSpawnAttributes({ posix_spawn(&pid, python, &actions, &$0, argv, envp) }) == 0 else {
            throw BenchError("cannot start LiveKit's worker (\(agent) start)")
        }
        return pid
    }

    /// LiveKit's worker and everything below it: SIGTERM to the worker, then SIGKILL to whatever
    /// of its tree is left after 15 s; the worker is reaped.
    private static func endTree(_ worker: Int32) {
        let tree = descendants(of: worker)
        kill(worker, SIGTERM)
        let deadline = ContinuousClock.now + .seconds(15)
        var status: Int32 = 0
        while ContinuousClock.now < deadline, waitpid(worker, &status, WNOHANG) == 0 { usleep(50_000) }
        for pid in tree { kill(pid, SIGKILL) }
        waitpid(worker, &status, 0)
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
