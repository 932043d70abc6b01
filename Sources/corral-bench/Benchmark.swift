import ArgumentParser
import CleanSpawn
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Measures how fast corral starts and ends sessions and what many sessions cost, against the
/// floor this host allows (a C program that spawns, signals and reaps), in one run.
@main
struct Benchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "corral-bench",
        abstract: "Benchmark corral (release build) against the kernel's floor on this host.",
        discussion: """
            Run it through bench/run, which builds the release binaries first. Results go to \
            bench/results/latest.md and latest.json and are printed.
            """
    )

    @Option(help: "Repetitions of the latency measurements; medians over them are reported.")
    var runs = 3

    @Option(help: "Sequential start/end cycles per run.")
    var cycles = 500

    @Option(help: "Session counts for the scale measurement, comma-separated (empty: skip).")
    var scale = "1000,10000"

    @Option(help: "Idle seconds over which corral's CPU time is measured at each scale.")
    var idleSeconds = 30

    @Option(help: "Cold and warm starts per run of the 1.5 s-loading agent.")
    var readyCycles = 10

    @Option(help: "Where results are written.")
    var output = "bench/results"

    @Option(help: "Cycles of the spaced starts and ends (one every 100 ms), per run.")
    var spacedCycles = 100

    @Option(help: "Cold and warm LiveKit jobs (needs .build/livekit-venv; 0: skip).")
    var livekitCycles = 30

    @Option(help: "Job counts of the density scenario, LiveKit's worker against a corral template, comma-separated; each dispatched one after another and all at once (needs .build/livekit-venv; 0 or empty: skip).")
    var densityJobs = "8,50"

    @Flag(help: "Only the density scenario; its table goes to density.md and density.json.")
    var densityOnly = false

    @Option(help: "Starts of a template profile's session each way (forked, cold, prewarmed; 0: skip).")
    var templateStarts = 20

    @Flag(help: "Only the starts of a template profile's session; the table goes to template-starts.md and template-starts.json.")
    var templateStartsOnly = false

    @Flag(help: "Have corral time each start and end step by step (CORRAL_PHASE_TIMINGS) and add its medians to the report.")
    var phaseTimings = false

    @Flag(help: "Only the floors, the spaced starts and ends and the burst (no back-to-back, readiness, LiveKit or scale).")
    var spacedOnly = false

    func run() async throws {
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        let work = NSTemporaryDirectory() + "corral-bench-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }
        let python = repository + "/.build/livekit-venv/bin/python"
        SignalCleanup.shared.install()
        if densityOnly {
            let density = try await density(repository: repository, python: python, work: work, tag: UUID().uuidString)
            try write(Report.densityLines(density).joined(separator: "\n") + "\n", density, as: "density")
            return
        }
        if templateStartsOnly {
            guard let starts = try await templateStartsRun(repository: repository, work: work, tag: UUID().uuidString) else { return }
            try write(Report.templateStartLines(starts).joined(separator: "\n") + "\n", starts, as: "template-starts")
            return
        }
        let limit = try compile(repository + "/bench/limit.c", into: work)
        let agent = try compile(repository + "/bench/agent.c", into: work)
        let slowAgent = repository + "/bench/prewarm_agent.py"
        let tag = UUID().uuidString
        let grace = 1.0
        let config: [String: Any] = [
            "store": "sqlite:corral.db",
            "grace_seconds": grace,
            "max_sessions": 20_000,
            // The benchmark measures corral's own cost, not its per-token rate limit (default 50/s).
            "session_starts_per_second": 1_000_000,
            "log_level": "info",
            "default_agent": "trivial",
            "agents": [
                "trivial": ["command": ["sleep", "100000"], "env": ["CORRAL_BENCH": tag]],
                "cooperative": ["command": [agent, "cooperative"], "env": ["CORRAL_BENCH": tag]],
                "stubborn": ["command": [agent, "stubborn"], "env": ["CORRAL_BENCH": tag]],
                "slow-cold": ["command": ["/usr/bin/python3", slowAgent], "ready": "notify", "env": ["CORRAL_BENCH": tag]],
                "slow-warm": ["command": ["/usr/bin/python3", slowAgent], "ready": "notify", "prewarm": 2, "env": ["CORRAL_BENCH": tag]],
            ],
        ]
        var report = Report(host: Host.describe(), cycles: cycles, runs: runs, grace: grace)
        for run in 1...runs {
            print("run \(run)/\(runs): limit")
            report.limitStart.append(try limitRun(limit, cycles: cycles).start)
            report.limitEnd.append(try limitRun(limit, cycles: cycles).end)
            let spawnBurst = try limitBurst(limit, count: 100, agent: agent)
            let directory = work + "/run-\(run)"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let corral = try await BenchCorral.start(executable: corralBinary, directory: directory, config: config, phaseTimings: phaseTimings)
            do {
                print("run \(run)/\(runs): HTTP floor, spaced")
                report.spacedHealth.append(try await Scenarios.spacedHealth(corral, cycles: spacedCycles, every: .milliseconds(100)))
                if !spacedOnly {
                    print("run \(run)/\(runs): start latency")
                    report.start.append(try await Scenarios.startLatency(corral, cycles: cycles))
                    print("run \(run)/\(runs): end latency")
                    report.end.append(try await Scenarios.endLatency(corral, cycles: max(cycles / 2, 1)))
                    print("run \(run)/\(runs): SIGTERM-ignoring agent")
                    report.stubborn.append(try await Scenarios.stubbornOvershoot(corral, cycles: 5, grace: grace))
                    print("run \(run)/\(runs): ready, cold and warm")
                    let readiness = try await Scenarios.readiness(corral, cycles: readyCycles)
                    report.coldReady.append(readiness.cold)
                    report.warmReady.append(readiness.warm)
                }
                print("run \(run)/\(runs): burst")
                let healthBurst = try await Scenarios.healthBurst(corral, count: 100)
                report.burstFloors.append(Scenarios.BurstFloor(
                    httpWallMS: healthBurst.wallMS, httpCPUMSPerRequest: healthBurst.cpuMSPerRequest,
                    spawnWallMS: spawnBurst.wallMS, spawnCPUMSPerSpawn: spawnBurst.cpuMSPerSpawn
                ))
                report.bursts.append(try await Scenarios.burst(corral, count: 100, run: run))
                print("run \(run)/\(runs): spaced starts and ends")
                report.spacedStart.append(try await Scenarios.spacedStart(corral, cycles: spacedCycles, every: .milliseconds(100)))
                report.spacedEnd.append(try await Scenarios.spacedEnd(corral, cycles: spacedCycles, every: .milliseconds(100)))
                if run == 1 {
                    report.modeLine = corral.log.contains("containment=cgroup") ? "cgroup" : "process-group"
                }
            } catch {
                await corral.stop()
                throw error
            }
            await corral.stop()
            if phaseTimings { report.phaseTimings += ["run \(run), cgroup:"] + corral.phaseTimings }
            print("run \(run)/\(runs): end with process groups")
            var groups = config
            groups["containment"] = "process-group"
            let groupsDirectory = directory + "-groups"
            try FileManager.default.createDirectory(atPath: groupsDirectory, withIntermediateDirectories: true)
            let groupCorral = try await BenchCorral.start(executable: corralBinary, directory: groupsDirectory, config: groups, phaseTimings: phaseTimings)
            do {
                if !spacedOnly {
                    report.processGroupEnd.append(try await Scenarios.endLatency(groupCorral, cycles: max(cycles / 2, 1)))
                }
                report.spacedProcessGroupEnd.append(try await Scenarios.spacedEnd(groupCorral, cycles: spacedCycles, every: .milliseconds(100)))
            } catch {
                await groupCorral.stop()
                throw error
            }
            await groupCorral.stop()
            if phaseTimings { report.phaseTimings += ["run \(run), process groups:"] + groupCorral.phaseTimings }
        }
        if livekitCycles > 0, !spacedOnly, FileManager.default.isExecutableFile(atPath: python) {
            print("LiveKit worker: \(livekitCycles) cold and warm jobs, 100 jobs across three nodes")
            let directory = work + "/livekit"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            report.livekit = try await Scenarios.livekitJobs(
                corralBinary: corralBinary, python: python, repository: repository, work: directory, tag: tag, cycles: livekitCycles
            )
        }
        if !spacedOnly {
            report.density = try await density(repository: repository, python: python, work: work, tag: tag)
            report.templateStarts = try await templateStartsRun(repository: repository, work: work, tag: tag)
        }
        let sizes = spacedOnly ? [] : scale.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        if !sizes.isEmpty {
            let directory = work + "/scale"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let corral = try await BenchCorral.start(executable: corralBinary, directory: directory, config: config)
            for size in sizes {
                print("scale: \(size) sessions")
                do {
                    report.scale.append(try await Scenarios.scale(corral, count: size, idleSeconds: idleSeconds, tag: tag))
                } catch {
                    print("scale \(size) failed: \(error)")
                    break
                }
            }
            await corral.stop()
        }
        let leftovers = Scenarios.tagged(tag)
        for pid in leftovers { kill(pid, SIGKILL) }
        report.leftBehind = leftovers.count

        try write(report.markdown, report, as: "latest")
    }

    /// The density scenario, when the LiveKit venv is there.
    private func density(repository: String, python: String, work: String, tag: String) async throws -> Scenarios.Density? {
        let counts = densityJobs.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }.filter { $0 > 0 }
        guard !counts.isEmpty, FileManager.default.isExecutableFile(atPath: python) else { return nil }
        print("density: \(counts.map(String.init).joined(separator: ", ")) livekit-agents jobs under LiveKit's worker and under a corral template")
        let directory = work + "/density"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        return try await Scenarios.density(corralBinary: corralBinary, python: python, repository: repository, work: directory, tag: tag, counts: counts)
    }

    /// A template profile's session forked, cold and prewarmed.
    private func templateStartsRun(repository: String, work: String, tag: String) async throws -> Scenarios.TemplateStarts? {
        guard templateStarts > 0 else { return nil }
        return try await Scenarios.templateStarts(corralBinary: corralBinary, repository: repository, work: work, tag: tag, cycles: templateStarts)
    }

    /// The release `corral` next to this binary.
    private var corralBinary: String {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("corral").path
    }

    /// Writes `NAME.md` and `NAME.json` in the output directory and prints the Markdown.
    private func write(_ markdown: String, _ value: some Encodable, as name: String) throws {
        try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
        try markdown.write(toFile: output + "/\(name).md", atomically: true, encoding: .utf8)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(value).write(to: URL(fileURLWithPath: output + "/\(name).json"))
        print(markdown)
    }

    private func compile(_ source: String, into directory: String) throws -> String {
        let output = directory + "/" + URL(fileURLWithPath: source).deletingPathExtension().lastPathComponent
        let status = try runProcess(["/usr/bin/env", "cc", "-O2", "-o", output, source]).status
        guard status == 0 else { throw BenchError("cannot compile \(source) (cc exit \(status))") }
        return output
    }

    /// The limit program's burst: `count` of the benchmark's agents spawned back to back.
    private func limitBurst(_ binary: String, count: Int, agent: String) throws -> (wallMS: Double, cpuMSPerSpawn: Double) {
        let result = try runProcess([binary, "burst", String(count), agent, "cooperative"])
        guard result.status == 0, let json = try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Double],
              let wall = json["wall_us"], let cpu = json["cpu_us_per_spawn"] else {
            throw BenchError("the limit program's burst failed")
        }
        return (wall / 1000, cpu / 1000)
    }

    private func limitRun(_ binary: String, cycles: Int) throws -> (start: Distribution, end: Distribution) {
        let result = try runProcess([binary, String(cycles)])
        guard result.status == 0, let json = try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: [Double]] else {
            throw BenchError("the limit program failed")
        }
        return (Distribution((json["start_us"] ?? []).map { $0 / 1000 }), Distribution((json["end_us"] ?? []).map { $0 / 1000 }))
    }
}

/// Runs a short helper to completion, collecting its standard output.
func runProcess(_ arguments: [String]) throws -> (status: Int32, output: String) {
    let output = NSTemporaryDirectory() + "corral-bench-out-" + UUID().uuidString
    defer { unlink(output) }
    let pid = try spawnChild(arguments, output: .file(output), errors: .inherited)
    return (waitForChild(pid), (try? String(contentsOfFile: output, encoding: .utf8)) ?? "")
}

enum Host {
    static func describe() -> String {
        var name = utsname()
        uname(&name)
        let release = withUnsafeBytes(of: name.release) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
        return "\(ProcessInfo.processInfo.activeProcessorCount) cores, \(ProcessInfo.processInfo.physicalMemory / 1_073_741_824) GiB, Linux \(release)"
    }
}
