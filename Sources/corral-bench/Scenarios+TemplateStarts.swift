import Foundation

/// A plain (non-LiveKit) Python agent, `bench/template_agent.py` (a 1.5 s warm-up, then its
/// session says `READY=1`), started three ways through `POST /api/sessions`: forked from the
/// profile's warm template, started cold by `execve` (the same file, no template), and handed to
/// a prewarmed agent (`prewarm: 2`, no template). For each, POST → 201 and POST → `running` (the
/// session's `READY=1`), one start at a time, each session ended (untimed) before the next.
extension Scenarios {
    struct TemplateStart: Codable {
        /// corral's name for the path, as the session's `start` says it: fork, cold, warm.
        let start: String
        let created: Distribution
        let running: Distribution
        /// Starts that took another path than the one measured (e.g. cold while the template restarted).
        let otherPath: Int
    }

    struct TemplateStarts: Codable {
        let cycles: Int
        let loadSeconds: Double
        let starts: [TemplateStart]
    }

    static func templateStarts(corralBinary: String, repository: String, work: String, tag: String, cycles: Int) async throws -> TemplateStarts {
        let agent = ["/usr/bin/python3", repository + "/bench/template_agent.py"]
        let load = 1.5
        let env = ["CORRAL_BENCH": tag, "BENCH_LOAD_SECONDS": "\(load)", "BENCH_BALLAST_MB": "64", "PYTHONDONTWRITEBYTECODE": "1"]
        let config: [String: Any] = [
            "store": "sqlite:corral.db", "grace_seconds": 2, "max_sessions": 50, "startup_timeout_seconds": 60,
            "session_starts_per_second": 1_000_000, "default_agent": "fork",
            "agents": [
                "fork": ["command": agent, "ready": "notify", "template": true, "env": env],
                "cold": ["command": agent, "ready": "notify", "env": env],
                "warm": ["command": agent, "ready": "notify", "prewarm": 2, "env": env],
            ],
        ]
        let directory = work + "/template-starts"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let corral = try await BenchCorral.start(executable: corralBinary, directory: directory, config: config)
        do {
            var starts: [TemplateStart] = []
            for kind in ["fork", "cold", "warm"] {
                print("template starts: \(kind), \(cycles) starts")
                starts.append(try await templateStart(corral, kind: kind, cycles: cycles))
            }
            await corral.stop()
            return TemplateStarts(cycles: cycles, loadSeconds: load, starts: starts)
        } catch {
            await corral.stop()
            throw error
        }
    }

    /// The profile named `kind` (fork, cold, warm), whose sessions are expected to start that way.
    private static func templateStart(_ corral: BenchCorral, kind: String, cycles: Int) async throws -> TemplateStart {
        var created: [Double] = []
        var running: [Double] = []
        var otherPath = 0
        for index in 0..<cycles {
            // Untimed: the template ready, or a prewarmed agent ready again after the last start.
            if kind == "fork" { try await waitForTemplate(corral, agent: kind) }
            if kind == "warm" { try await waitForIdleAgent(corral) }
            let id = "\(kind)-\(index)"
            let began = ContinuousClock.now
            let reply = try await corral.request(.POST, "/api/sessions", body: #"{"agent": "\#(kind)", "session_id": "\#(id)"}"#)
            created.append((ContinuousClock.now - began).ms)
            guard reply.status == 201 else { throw BenchError("POST \(id): \(reply.status) \(String(buffer: reply.body))") }
            var session = object(reply)
            if session?["start"] as? String != kind { otherPath += 1 }
            while session?["status"] as? String != "running" {
                guard ContinuousClock.now - began < .seconds(30) else { throw BenchError("\(id) never got ready: \(session ?? [:])") }
                try await Task.sleep(for: .milliseconds(1))
                session = object(try await corral.request(.GET, "/api/sessions/\(id)"))
            }
            running.append((ContinuousClock.now - began).ms)
            _ = try await corral.request(.DELETE, "/api/sessions/\(id)")
        }
        return TemplateStart(start: kind, created: Distribution(created), running: Distribution(running), otherPath: otherPath)
    }

    private static func waitForTemplate(_ corral: BenchCorral, agent: String) async throws {
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            let templates = object(try await corral.request(.GET, "/api/templates"))?["templates"] as? [[String: Any]] ?? []
            if templates.contains(where: { $0["agent"] as? String == agent && $0["state"] as? String == "ready" }) { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw BenchError("the template of \(agent) never got ready")
    }

    private static func waitForIdleAgent(_ corral: BenchCorral) async throws {
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            let idle = object(try await corral.request(.GET, "/api/prewarm"))?["idle"] as? [[String: Any]] ?? []
            if idle.contains(where: { $0["state"] as? String == "ready" }) { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw BenchError("the prewarmed pool never had a ready agent")
    }

    private static func object(_ reply: BenchCorral.Reply) -> [String: Any]? {
        (try? JSONSerialization.jsonObject(with: Data(reply.body.readableBytesView))) as? [String: Any]
    }
}
