import CorralCore
import Foundation

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
        func script(_ file: String, readiness: AgentProfile.Readiness = .exec) -> AgentProfile {
            AgentProfile(command: [path(file)], environment: environment, readiness: readiness)
        }
        return [
            "sleeper": AgentProfile(command: ["sleep", "1000"], environment: environment),
            "cooperative": script("cooperative.sh"),
            "ignore-term": script("ignore-term.sh"),
            "pipeline": script("pipeline.sh"),
            "leave-child": script("leave-child.sh"),
            "crash": script("crash.sh"),
            "escape": script("escape.sh"),
            "never-ready": script("never-ready.sh", readiness: .notify),
            "ready-after-delay": script("ready-after-delay.py", readiness: .notify),
        ]
    }
}
