import CorralCore
import Foundation
import CorralConfiguration

/// The agents in `Tests/Fixtures/agents`, as profiles.
public enum TestAgents {
    public static let directory: String = {
        // Tests/CorralTestSupport/TestAgents.swift → Tests/Fixtures/agents
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/agents").path
    }()

    public static func path(_ name: String) -> String { directory + "/" + name }

    /// Every fixture, named by its file's stem, plus `sleeper` (plain `sleep`, no shell).
    public static func profiles(tag: String) -> [String: AgentProfile] {
        let environment = ["CORRAL_TEST_RUN": tag]
        func script(_ file: String, _ arguments: String..., readiness: AgentProfile.Readiness = .exec) -> AgentProfile {
            AgentProfile(command: [path(file)] + arguments, environment: environment, readiness: readiness)
        }
        var profiles: [String: AgentProfile] = [
            "sleeper": AgentProfile(command: ["sleep", "1000"], environment: environment),
            "cooperative": script("cooperative.sh"),
            "ignore-term": script("ignore-term.sh"),
            "pipeline": script("pipeline.sh"),
            "leave-child": script("leave-child.sh"),
            "crash": script("crash.sh"),
            "never-ready": script("never-ready.sh", readiness: .notify),
            "ready-after-delay": script("ready-after-delay.py", readiness: .notify),
            "nested-cgroup": script("nested-cgroup.sh"),
        ]
        for (name, file) in escapers.merging(traceless, uniquingKeysWith: { $1 }) {
            profiles[name] = script(file)
            profiles[name + "-exits"] = script(file, "exit")
        }
        var bomb = script("fork-bomb.sh")
        bomb.pidsLimit = 50
        profiles["fork-bomb"] = bomb
        var hog = script("memory-hog.py")
        hog.memoryLimitMB = 64
        profiles["memory-hog"] = hog
        return profiles
    }

    /// Agents whose processes try to outlive their session (each also as `NAME-exits`, which
    /// exits by itself once its processes are started).
    public static let escapers = [
        "setsid-child": "setsid-child.sh",
        "double-fork": "double-fork.py",
        "fork-100": "fork-100.sh",
        "ignore-term-everywhere": "ignore-term-everywhere.sh",
    ]

    /// Agents whose escaped processes leave no trace to find them by (no group, kernel session,
    /// parent or `CORRAL_SESSION_ID`): only a cgroup or a pid namespace holds them. Each carries
    /// only an argument, `orphan-SESSION_ID` (`orphanName`).
    public static let traceless = ["orphan-setsid": "orphan-setsid.sh"]

    /// The argument `orphan-setsid`'s escaped process carries (its shell's `$0`) in a session.
    public static func orphanName(session: String) -> String { "orphan-" + session }
}

extension CorralConfiguration {
    /// A configuration for one test's corral: its own data directory (named with `prefix`),
    /// an in-memory store, process groups (or a cgroup root of its own), the fixture agents
    /// tagged with `tag`, a one-second grace period.
    public static func forTest(
        tag: String, prefix: String, containment: ContainmentMode = .processGroup, defaultAgent: String, startupTimeoutSeconds: Double
    ) -> CorralConfiguration {
        var configuration = CorralConfiguration()
        configuration.dataDirectory = NSTemporaryDirectory() + prefix + UUID().uuidString
        configuration.store = .memory
        configuration.containment = containment
        if containment != .processGroup, CgroupSupport.available {
            configuration.cgroupRoot = CgroupSupport.newTestPath()
        }
        configuration.agents = TestAgents.profiles(tag: tag)
        configuration.defaultAgent = defaultAgent
        configuration.graceSeconds = 1
        configuration.startupTimeoutSeconds = startupTimeoutSeconds
        return configuration
    }
}
