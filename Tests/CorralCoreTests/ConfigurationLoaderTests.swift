import CorralCore
import Foundation
import Testing

@Suite("Configuration")
struct ConfigurationLoaderTests {
    func load(_ json: String?, environment: [String: String] = [:]) throws(CorralError) -> CorralConfiguration {
        var file: String?
        if let json {
            let path = NSTemporaryDirectory() + "corral-config-" + UUID().uuidString + ".json"
            _ = FileManager.default.createFile(atPath: path, contents: Data(json.utf8))
            file = path
        }
        defer { if let file { try? FileManager.default.removeItem(atPath: file) } }
        return try ConfigurationLoader.load(file: file, environment: environment, workingDirectory: "/srv")
    }

    func message(_ json: String?, environment: [String: String] = [:]) -> String? {
        do {
            _ = try load(json, environment: environment)
            return nil
        } catch {
            #expect(error.code == .configuration)
            return error.message
        }
    }

    @Test func embeddedDefaults() throws {
        let configuration = try load(nil)
        #expect(configuration.listen == .init(host: "127.0.0.1", port: 8080))
        #expect(configuration.store == .sqlite(path: "corral.db"))
        #expect(configuration.dataDirectory == "/srv/corral-data")
        #expect(configuration.resolvedStorePath == "/srv/corral-data/corral.db")
        #expect(configuration.sessionTimeoutSeconds == 14_400)
        #expect(configuration.graceSeconds == 2)
        #expect(configuration.startupTimeoutSeconds == 30)
        #expect(configuration.maxSessions == 1000)
        #expect(configuration.apiToken == nil)
        #expect(configuration.defaultAgent == "demo")
        #expect(configuration.agents["demo"]?.command.last == "/srv/corral-data/demo-agent.py")
    }

    @Test func theContractExampleLoads() throws {
        let configuration = try load(
            """
            {
              "listen": "127.0.0.1:8080", "store": "sqlite:corral.db", "session_timeout_seconds": 14400,
              "grace_seconds": 2, "startup_timeout_seconds": 30, "api_token": null, "default_agent": "demo",
              "agents": {"demo": {"command": ["/usr/bin/env", "python3", "agent.py"], "env": {"LOG_LEVEL": "info"},
                                  "cwd": null, "ready": "exec", "memory_limit_mb": null}}
            }
            """
        )
        #expect(configuration.agents["demo"] == AgentProfile(command: ["/usr/bin/env", "python3", "agent.py"], environment: ["LOG_LEVEL": "info"]))
    }

    @Test func environmentOverridesTheFile() throws {
        let configuration = try load(
            #"{"grace_seconds": 5, "listen": "0.0.0.0:9000"}"#,
            environment: [
                "CORRAL_GRACE_SECONDS": "0.5", "CORRAL_API_TOKEN": "tok", "CORRAL_STORE": "memory",
                "CORRAL_AGENTS": #"{"a": {"command": ["sleep", "5"], "ready": "notify"}}"#, "CORRAL_MAX_SESSIONS": "7",
            ]
        )
        #expect(configuration.graceSeconds == 0.5)
        #expect(configuration.listen == .init(host: "0.0.0.0", port: 9000))
        #expect(configuration.apiToken == "tok")
        #expect(configuration.store == .memory)
        #expect(configuration.maxSessions == 7)
        #expect(configuration.agents["a"]?.readiness == .notify)
        #expect(configuration.defaultAgent == "a", "the only profile becomes the default")
    }

    @Test func sessionTimeoutAliases() throws {
        #expect(try load(nil, environment: ["SESSION_TIMEOUT": "60"]).sessionTimeoutSeconds == 60)
        #expect(
            try load(nil, environment: ["SESSION_TIMEOUT": "60", "CORRAL_SESSION_TIMEOUT_SECONDS": "90"]).sessionTimeoutSeconds == 90
        )
    }

    @Test(arguments: [
        (#"{"listn": "x"}"#, "listn"),
        (#"{"grace_seconds": "two"}"#, "grace_seconds"),
        (#"{"grace_seconds": -1}"#, "grace_seconds"),
        (#"{"session_timeout_seconds": 0}"#, "session_timeout_seconds"),
        (#"{"session_timeout_seconds": 100000}"#, "session_timeout_seconds"),
        (#"{"max_sessions": 1.5}"#, "max_sessions"),
        (#"{"listen": "localhost"}"#, "listen"),
        (#"{"listen": "127.0.0.1:99999"}"#, "listen"),
        (#"{"store": "postgres://x"}"#, "store"),
        (#"{"default_agent": "nope"}"#, "default_agent"),
        (#"{"agents": {}}"#, "agents"),
        (#"{"agents": {"a": {"command": []}}}"#, "agents.a.command"),
        (#"{"agents": {"a": {"command": "sleep 5"}}}"#, "agents.a.command"),
        (#"{"agents": {"a": {"command": ["sleep"], "ready": "soon"}}}"#, "agents.a.ready"),
        (#"{"agents": {"a": {"command": ["sleep"], "env": {"A": 1}}}}"#, "agents.a.env.A"),
        (#"{"agents": {"a": {"command": ["sleep"], "env": {"1A": "x"}}}}"#, "agents.a.env.1A"),
        (#"{"agents": {"a": {"command": ["sleep"], "memory_limit_mb": 0}}}"#, "agents.a.memory_limit_mb"),
        (#"{"agents": {"a": {"command": ["sleep"], "shell": true}}}"#, "agents.a.shell"),
        (#"{"agents": {"a": {"command": ["sleep"], "prewarm": -1}}}"#, "agents.a.prewarm"),
        (#"{"agents": {"a": {"command": ["sleep"], "prewarm": 1.5}}}"#, "agents.a.prewarm"),
        (#"{"max_sessions": 2, "agents": {"a": {"command": ["sleep"], "prewarm": 3}}}"#, "max_sessions"),
        (#"{"assign_timeout_seconds": 0}"#, "assign_timeout_seconds"),
        (#"{"log_level": "loud"}"#, "log_level"),
        (#"{"livekit": {"url": "wss://lk", "api_key": "k", "api_secret": "s", "auto_dispatch_agent": "nope"}}"#, "livekit.auto_dispatch_agent"),
        (
            #"{"livekit": {"url": "wss://lk", "api_key": "k", "api_secret": "s", "auto_dispatch_agent": "nope"}, "agents": {"a": {"command": ["a"]}}}"#,
            "livekit.auto_dispatch_agent"
        ),
        ("[1]", "JSON object"),
        ("{", "JSON object"),
    ])
    func badValuesNameTheKey(json: String, key: String) {
        let message = message(json)
        #expect(message?.contains(key) == true, "\(message ?? "loaded without error")")
    }

    @Test func prewarmSettingsLoad() throws {
        let configuration = try load(#"{"assign_timeout_seconds": 0.5, "agents": {"voice": {"command": ["agent"], "prewarm": 2}}}"#)
        #expect(configuration.agents["voice"]?.prewarm == 2)
        #expect(configuration.assignTimeoutSeconds == 0.5)
        #expect(try load(nil).agents.values.allSatisfy { $0.prewarm == 0 })
    }

    @Test func badEnvironmentValuesNameTheVariable() {
        #expect(message(nil, environment: ["CORRAL_GRACE_SECONDS": "soon"])?.contains("CORRAL_GRACE_SECONDS") == true)
        #expect(message(nil, environment: ["SESSION_TIMEOUT": "x"])?.contains("SESSION_TIMEOUT") == true)
        #expect(message(nil, environment: ["CORRAL_AGENTS": "{"])?.contains("CORRAL_AGENTS") == true)
    }

    @Test func missingFileIsAnError() {
        #expect(throws: CorralError.self) {
            try ConfigurationLoader.load(file: "/nonexistent/corral.json", environment: [:])
        }
    }
}
