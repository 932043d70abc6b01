import CorralCore
import CorralPlatform
import CorralTestSupport
import Foundation
import Testing
import CorralConfiguration

#if canImport(Glibc)
import Glibc
#endif

/// A data directory and configuration for running the real `corral` binary through crashes.
/// Agents carry a tag of the bed; whatever still carries it at the end is killed by pid and fails
/// the test, and the bed's cgroup root must be gone.
final class CrashTestBed: @unchecked Sendable {
    let tag = "bed-\(UUID().uuidString)"
    let directory = NSTemporaryDirectory() + "corral-crash-" + UUID().uuidString
    var config: [String: Any]
    let cgroupRoot: String?
    var corral: CorralProcess?

    init(containment: CorralConfiguration.ContainmentMode, extra: [String: Any] = [:]) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        // The test process adopts what a killed corral leaves and reaps it once it dies.
        try ProcessMonitor.shared.start()
        cgroupRoot = [.processGroup, .pidNamespace].contains(containment) ? nil : CgroupSupport.parent.map { $0 + "/corral-test-" + UUID().uuidString }
        let environment = ["CORRAL_TEST_RUN": tag]
        func agent(_ file: String, _ arguments: [String] = []) -> [String: Any] {
            ["command": [TestAgents.path(file)] + arguments, "env": environment]
        }
        config = [
            "data_dir": directory + "/data",
            "store": "sqlite:corral.db",
            "containment": containment.rawValue,
            "grace_seconds": 1,
            "default_agent": "cooperative",
            "agents": [
                "cooperative": agent("cooperative.sh"),
                "setsid-child": agent("setsid-child.sh"),
                "sighted-escape": agent("sighted-escape.sh"),
                "ignore-term": agent("ignore-term.sh"),
                "sleeper": ["command": ["sleep", "1000"], "env": environment],
            ],
        ]
        if let cgroupRoot { config["cgroup_root"] = cgroupRoot }
        config.merge(extra) { $1 }
    }

    var dataDirectory: String { directory + "/data" }

    /// Adds the agent profile `name` running `command`, tagged as the bed's own agents are.
    func addAgent(_ name: String, command: [String]) {
        var agents = config["agents"] as? [String: Any] ?? [:]
        agents[name] = ["command": command, "env": ["CORRAL_TEST_RUN": tag]]
        config["agents"] = agents
    }

    /// `corral serve` on the bed's configuration (listening on a free port), for one that is
    /// expected to stop by itself at start-up: its exit status and output.
    func serveExpectingRefusal() async throws -> CommandRunner.Result {
        var config = config
        config["listen"] = "127.0.0.1:0"
        let file = directory + "/refused-\(UUID().uuidString).json"
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: file))
        return try await CommandRunner.run(CorralProcess.executable, ["serve", "--config", file], timeout: .seconds(60))
    }
    var instanceID: String? {
        (try? String(contentsOfFile: dataDirectory + "/instance-id", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @discardableResult
    func startCorral(environment: [String: String] = [:], cgroup: String? = nil) async throws -> CorralProcess {
        let process = try await CorralProcess.start(config: config, directory: directory, environment: environment, cgroup: cgroup)
        corral = process
        return process
    }

    func crash() async {
        await corral?.kill()
        corral = nil
    }

    /// Runs `body` with a new bed and always finishes it, failed or not.
    static func run(
        containment: CorralConfiguration.ContainmentMode,
        extra: [String: Any] = [:],
        sourceLocation: SourceLocation = #_sourceLocation,
        _ body: (CrashTestBed) async throws -> Void
    ) async throws {
        let bed = try CrashTestBed(containment: containment, extra: extra)
        do {
            try await body(bed)
        } catch {
            await bed.finish(sourceLocation: sourceLocation)
            throw error
        }
        await bed.finish(sourceLocation: sourceLocation)
    }

    /// Live processes carrying this bed's tag.
    func taggedProcesses() async -> [Int32] {
        await ProcessProbe.processes(withEnvironment: "CORRAL_TEST_RUN", value: tag).filter { ProcessProbe.isAlive($0) }
    }

    /// Stops corral (SIGTERM), then checks and cleans: no tagged process, no cgroup root.
    func finish(sourceLocation: SourceLocation = #_sourceLocation) async {
        if let corral {
            let status = await corral.terminate()
            #expect(status == 0, "corral did not exit cleanly: \(corral.log.suffix(2000))", sourceLocation: sourceLocation)
            // Not stopped in time: it must not outlive the test.
            if status == nil { await corral.kill() }
        }
        corral = nil
        let leftovers = await taggedProcesses()
        ProcessProbe.kill(leftovers)
        #expect(leftovers.isEmpty, "processes left behind: \(leftovers)", sourceLocation: sourceLocation)
        if let cgroupRoot, case let left = CgroupSupport.leftovers(ofRoot: cgroupRoot), !left.isEmpty {
            CgroupSupport.removeTree(cgroupRoot)
            Issue.record("cgroup root left behind: \(left)", sourceLocation: sourceLocation)
        }
        try? FileManager.default.removeItem(atPath: directory)
    }


}

extension Dictionary where Key == String, Value == Any {
    var sessionID: String { self["session_id"] as? String ?? "" }
    var pid: Int32 { Int32(self["pid"] as? Int ?? 0) }
}
