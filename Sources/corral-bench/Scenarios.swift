import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The measurements, each against a running corral.
enum Scenarios {
    /// POST until 201, one after the other (each session ended afterwards, not timed).
    static func startLatency(_ corral: BenchCorral, cycles: Int) async throws -> Distribution {
        var samples: [Double] = []
        for index in 0..<cycles {
            samples.append(try await corral.timed(.POST, "/api/sessions", body: #"{"agent": "trivial", "session_id": "start-\#(index)"}"#, expect: 201))
            _ = try await corral.request(.DELETE, "/api/sessions/start-\(index)")
        }
        return Distribution(samples)
    }

    /// DELETE until 200 (nothing left) for a cooperative agent with one child.
    static func endLatency(_ corral: BenchCorral, cycles: Int) async throws -> Distribution {
        var samples: [Double] = []
        for index in 0..<cycles {
            _ = try await corral.timed(.POST, "/api/sessions", body: #"{"agent": "cooperative", "session_id": "end-\#(index)"}"#, expect: 201)
            try await waitForProcesses(corral, "end-\(index)", count: 2)
            samples.append(try await corral.timed(.DELETE, "/api/sessions/end-\(index)", expect: 200))
        }
        return Distribution(samples)
    }

    /// How far past grace_seconds a DELETE of a SIGTERM-ignoring agent answers.
    static func stubbornOvershoot(_ corral: BenchCorral, cycles: Int, grace: Double) async throws -> Distribution {
        var samples: [Double] = []
        for index in 0..<cycles {
            _ = try await corral.timed(.POST, "/api/sessions", body: #"{"agent": "stubborn", "session_id": "stubborn-\#(index)"}"#, expect: 201)
            try await waitForProcesses(corral, "stubborn-\(index)", count: 2)
            samples.append(try await corral.timed(.DELETE, "/api/sessions/stubborn-\(index)", expect: 200) - grace * 1000)
        }
        return Distribution(samples)
    }

    struct Burst: Codable {
        let startWallMS: Double
        let endWallMS: Double
        let errors: Int
        /// corral's CPU time (user + system, all threads) during the POSTs, per start.
        var cpuMSPerStart: Double? = nil
        /// The same to the nanosecond, from the threads alive at the end (`threadsCPUSeconds`).
        var threadsCPUMSPerStart: Double? = nil
    }

    /// What a burst of starts cannot go below on this host: `count` concurrent `GET /healthz` to
    /// the same corral (the HTTP part, with corral's CPU per request) and `count` agents spawned
    /// back to back by the limit program (the kernel's part, with its CPU per spawn).
    struct BurstFloor: Codable {
        var httpWallMS: Double
        var httpCPUMSPerRequest: Double
        var spawnWallMS: Double
        var spawnCPUMSPerSpawn: Double

        var wallMS: Double { httpWallMS + spawnWallMS }
        var cpuMSPerStart: Double { httpCPUMSPerRequest + spawnCPUMSPerSpawn }
    }

    /// `count` concurrent `GET /healthz` through a client of their own (so they open their
    /// connections, as the burst of POSTs does): the wall time and corral's CPU per request.
    static func healthBurst(_ corral: BenchCorral, count: Int) async throws -> (wallMS: Double, cpuMSPerRequest: Double) {
        let client = BenchCorral.makeClient()
        let cpuBefore = corral.threadsCPUSeconds()
        let (wall, errors) = try await concurrently((0..<count).map(String.init), width: count) { _ in
            try await corral.timed(.GET, "/healthz", expect: 200, via: client)
        }
        let cpu = corral.threadsCPUSeconds() - cpuBefore
        try await client.shutdown()
        guard errors == 0 else { throw BenchError("\(errors) of \(count) concurrent GET /healthz failed") }
        return (wall, cpu * 1000 / Double(count))
    }

    /// `count` concurrent POSTs, then `count` concurrent DELETEs.
    static func burst(_ corral: BenchCorral, count: Int, run: Int) async throws -> Burst {
        let ids = (0..<count).map { "burst-\(run)-\($0)" }
        let cpuBefore = corral.usage().cpuSeconds
        let threadsCPUBefore = corral.threadsCPUSeconds()
        let (startWall, startErrors) = try await concurrently(ids, width: count) { id in
            try await corral.timed(.POST, "/api/sessions", body: #"{"agent": "cooperative", "session_id": "\#(id)"}"#, expect: 201)
        }
        let cpuPerStart = (corral.usage().cpuSeconds - cpuBefore) * 1000 / Double(count)
        let threadsCPUPerStart = (corral.threadsCPUSeconds() - threadsCPUBefore) * 1000 / Double(count)
        let (endWall, endErrors) = try await concurrently(ids, width: count) { id in
            try await corral.timed(.DELETE, "/api/sessions/\(id)", expect: 200)
        }
        return Burst(
            startWallMS: startWall, endWallMS: endWall, errors: startErrors + endErrors, cpuMSPerStart: cpuPerStart,
            threadsCPUMSPerStart: threadsCPUPerStart
        )
    }

    struct Scale: Codable {
        let sessions: Int
        let startWallSeconds: Double
        let endWallSeconds: Double
        let errors: Int
        let rssMB: Double
        let idleCPUPercent: Double
        let listLatency: Distribution
        let debugLatency: Distribution
        let leftBehind: Int
    }

    /// `count` sessions of an agent with one child: memory, idle CPU, list and inspection
    /// latency at that size; then all ended, and what is left counted.
    static func scale(_ corral: BenchCorral, count: Int, idleSeconds: Int, tag: String) async throws -> Scale {
        let ids = (0..<count).map { "scale-\(count)-\($0)" }
        let (startWall, startErrors) = try await concurrently(ids, width: 32) { id in
            try await corral.timed(.POST, "/api/sessions", body: #"{"agent": "cooperative", "session_id": "\#(id)"}"#, expect: 201)
        }
        // Let the children start and corral settle before measuring idle cost.
        try await Task.sleep(for: .seconds(3))
        let before = corral.usage()
        try await Task.sleep(for: .seconds(idleSeconds))
        let after = corral.usage()
        // Enough requests for a p99 that is not just the slowest one.
        var list: [Double] = []
        for _ in 0..<200 { list.append(try await corral.timed(.GET, "/api/sessions", expect: 200)) }
        var debug: [Double] = []
        for index in 0..<200 {
            debug.append(try await corral.timed(.GET, "/api/debug/session/\(ids[(index * 7919) % ids.count])/processes", expect: 200))
        }
        let (endWall, endErrors) = try await concurrently(ids, width: 32) { id in
            try await corral.timed(.DELETE, "/api/sessions/\(id)", expect: 200)
        }
        return Scale(
            sessions: count,
            startWallSeconds: startWall / 1000,
            endWallSeconds: endWall / 1000,
            errors: startErrors + endErrors,
            rssMB: Double(after.rss) / 1_048_576,
            idleCPUPercent: (after.cpuSeconds - before.cpuSeconds) / Double(idleSeconds) * 100,
            listLatency: Distribution(list),
            debugLatency: Distribution(debug),
            leftBehind: tagged(tag, session: "scale-\(count)-").count
        )
    }

    /// Runs `work` for every id, at most `width` at a time; returns the wall time in ms and the
    /// number of failures.
    static func concurrently(_ ids: [String], width: Int, _ work: @escaping @Sendable (String) async throws -> Double) async throws -> (Double, Int) {
        let began = ContinuousClock.now
        let errors = await withTaskGroup(of: Bool.self) { group in
            var failures = 0
            var next = 0
            for _ in 0..<min(width, ids.count) {
                let id = ids[next]
                next += 1
                group.addTask { (try? await work(id)) != nil }
            }
            while let ok = await group.next() {
                if !ok { failures += 1 }
                if next < ids.count {
                    let id = ids[next]
                    next += 1
                    group.addTask { (try? await work(id)) != nil }
                }
            }
            return failures
        }
        return ((ContinuousClock.now - began).ms, errors)
    }

    /// POST until the agent has said it is ready (the session is `running`), for an agent that
    /// loads for 1.5 s: started cold, then taken from the prewarmed pool (waiting, untimed, for the
    /// pool to have a ready agent again before each warm start).
    static func readiness(_ corral: BenchCorral, cycles: Int) async throws -> (cold: Distribution, warm: Distribution) {
        func untilRunning(_ agent: String, _ id: String) async throws -> Double {
            let began = ContinuousClock.now
            let reply = try await corral.request(.POST, "/api/sessions", body: #"{"agent": "\#(agent)", "session_id": "\#(id)"}"#)
            guard reply.status == 201 else { throw BenchError("POST \(id): \(reply.status) \(String(buffer: reply.body))") }
            var status = json(reply)?["status"] as? String
            while status != "running" {
                guard ContinuousClock.now - began < .seconds(30) else { throw BenchError("\(id) never got ready") }
                try await Task.sleep(for: .milliseconds(1))
                status = json(try await corral.request(.GET, "/api/sessions/\(id)"))?["status"] as? String
            }
            return (ContinuousClock.now - began).ms
        }
        var cold: [Double] = []
        var warm: [Double] = []
        for index in 0..<cycles {
            cold.append(try await untilRunning("slow-cold", "cold-\(index)"))
            _ = try await corral.request(.DELETE, "/api/sessions/cold-\(index)")
        }
        for index in 0..<cycles {
            let deadline = ContinuousClock.now + .seconds(30)
            while try await readyIdleAgents(corral) == 0 {
                guard ContinuousClock.now < deadline else { throw BenchError("the prewarmed pool never refilled") }
                try await Task.sleep(for: .milliseconds(20))
            }
            warm.append(try await untilRunning("slow-warm", "warm-\(index)"))
            _ = try await corral.request(.DELETE, "/api/sessions/warm-\(index)")
        }
        return (Distribution(cold), Distribution(warm))
    }

    private static func json(_ reply: BenchCorral.Reply) -> [String: Any]? {
        (try? JSONSerialization.jsonObject(with: Data(reply.body.readableBytesView))) as? [String: Any]
    }

    private static func readyIdleAgents(_ corral: BenchCorral) async throws -> Int {
        let idle = json(try await corral.request(.GET, "/api/prewarm"))?["idle"] as? [[String: Any]] ?? []
        return idle.filter { $0["state"] as? String == "ready" }.count
    }

    static func waitForProcesses(_ corral: BenchCorral, _ id: String, count: Int) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            let reply = try await corral.request(.GET, "/api/sessions?usage=true")
            let sessions = (try? JSONSerialization.jsonObject(with: Data(reply.body.readableBytesView))) as? [String: Any]
            let session = (sessions?["sessions"] as? [[String: Any]])?.first { $0["session_id"] as? String == id }
            if (session?["processes"] as? Int ?? 0) >= count { return }
            try await Task.sleep(for: .milliseconds(2))
        }
        throw BenchError("\(id) never had \(count) processes")
    }

    /// Live processes carrying the benchmark's tag in their environment.
    /// The processes of this run (its tag in their environment); with `session`, only those of
    /// sessions whose id starts with it (not corral itself, nor its prewarmed agents).
    static func tagged(_ tag: String, session: String? = nil) -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        let wanted = Array("CORRAL_BENCH=\(tag)".utf8)
        let sessionPrefix = session.map { Array("CORRAL_SESSION_ID=\($0)".utf8) }
        var pids: [Int32] = []
        for entry in entries {
            guard let pid = Int32(entry), let data = FileManager.default.contents(atPath: "/proc/\(entry)/environ") else { continue }
            let variables = data.split(separator: 0).map(Array.init)
            guard variables.contains(wanted) else { continue }
            if let sessionPrefix, !variables.contains(where: { $0.starts(with: sessionPrefix) }) { continue }
            pids.append(pid)
        }
        return pids
    }
}
