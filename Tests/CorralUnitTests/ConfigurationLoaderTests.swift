import CorralCore
import CorralPlatform
import CorralSecurity
import Foundation
import Testing

@testable import CorralConfiguration

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

    /// A boolean from the environment is written as shells and unit files write it.
    @Test func booleansFromTheEnvironment() throws {
        for (text, expected) in [("true", true), ("1", true), ("YES", true), ("on", true), ("false", false), ("0", false), ("no", false), (" Off ", false)] {
            #expect(try load(nil, environment: ["CORRAL_ALLOW_UNAUTHENTICATED": text]).allowUnauthenticated == expected, "\(text)")
        }
        #expect(try load(#"{"allow_unauthenticated": true}"#, environment: ["CORRAL_ALLOW_UNAUTHENTICATED": ""]).allowUnauthenticated == false)
        let refused = message(nil, environment: ["CORRAL_ALLOW_UNAUTHENTICATED": "maybe"])
        #expect(refused?.contains("CORRAL_ALLOW_UNAUTHENTICATED: expected true or false") == true, "\(refused ?? "loaded")")
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
        ("{", "not valid JSON: line 1, column 2"),
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

    /// Numbers in variables are read as the file's are: hexadecimal, infinities and overflows
    /// are refused, not taken as 16 or reported as "expected a number, got a number".
    @Test(arguments: ["0x10", "0x1p3", "inf", "nan", "1e400", "+5", "5 s"])
    func numbersInVariablesAreDecimal(_ raw: String) {
        let text = message(nil, environment: ["CORRAL_GRACE_SECONDS": raw])
        #expect(text?.contains("CORRAL_GRACE_SECONDS: expected a number written in decimal") == true, "\(text ?? "loaded")")
        #expect(text?.contains("'\(raw)'") == true)
    }

    @Test func anAgentProfileNeedsAName() {
        #expect(message(#"{"agents": {"": {"command": ["sleep", "5"]}}}"#)?.contains("an agent profile's name cannot be empty") == true)
        // A newline in a name broke the rows of `corral sessions` (an outside review).
        #expect(message(#"{"agents": {"a\nb": {"command": ["sleep", "5"]}}}"#)?.contains(#"the agent profile name "a\nb" holds a control character"#) == true)
        #expect(message(#"{"agents": {"voice agent é": {"command": ["sleep", "5"]}}}"#) == nil)
    }

    @Test func decimalNumbersInVariablesLoad() throws {
        let configuration = try load(nil, environment: ["CORRAL_GRACE_SECONDS": " 1.5e0 ", "CORRAL_MAX_SESSIONS": "16"])
        #expect(configuration.graceSeconds == 1.5 && configuration.maxSessions == 16)
    }

    @Test func badEnvironmentValuesNameTheVariable() {
        #expect(message(nil, environment: ["CORRAL_GRACE_SECONDS": "soon"])?.contains("CORRAL_GRACE_SECONDS") == true)
        #expect(message(nil, environment: ["SESSION_TIMEOUT": "x"])?.contains("SESSION_TIMEOUT") == true)
        #expect(message(nil, environment: ["CORRAL_AGENTS": "{"])?.contains("CORRAL_AGENTS") == true)
        // Checks across keys name the variable too.
        #expect(message(nil, environment: ["CORRAL_DEFAULT_AGENT": "nobody"])?.hasPrefix("configuration: CORRAL_DEFAULT_AGENT: 'nobody'") == true)
        #expect(
            message(nil, environment: ["CORRAL_AGENTS": #"{"a": {"command": ["a"], "livekit": true}}"#])?
                .hasPrefix("configuration: CORRAL_AGENTS.a.livekit: a LiveKit agent needs") == true
        )
    }

    /// Every top-level key reaches its field: each is given a value other than its default.
    @Test func everyKeyReachesItsField() throws {
        let directory = NSTemporaryDirectory() + "corral-keys-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        for name in ["cert.pem", "key.pem"] { _ = FileManager.default.createFile(atPath: directory + "/" + name, contents: Data("x".utf8)) }
        let digest = String(repeating: "ab", count: 32)
        let c = try load(
            """
            {"listen": "0.0.0.0:9", "store": "memory", "data_dir": "state", "node_id": "n-1", "advertise_url": "https://n1:9/",
             "heartbeat_interval_seconds": 3, "session_timeout_seconds": 10, "max_session_timeout_seconds": 20, "grace_seconds": 0.5,
             "startup_timeout_seconds": 4, "assign_timeout_seconds": 5, "max_sessions": 6, "sweep_interval_seconds": 7,
             "containment": "process-group", "cgroup_root": "/sys/fs/cgroup/x", "watch_interval_seconds": 8, "shutdown": "drain",
             "drain_timeout_seconds": 9, "agents": {"a": {"command": ["a"]}, "b": {"command": ["b"]}}, "default_agent": "b",
             "livekit": {"url": "wss://lk", "api_key": "k", "api_secret": "s", "auto_dispatch_agent": "a", "sessions_per_room": 2, "token_margin_seconds": 3},
             "log_level": "DEBUG", "log_format": "json", "log_max_bytes": 0, "log_retention_seconds": 11, "events_webhook_url": "http://hook/",
             "api_token": "t", "tokens": [{"name": "ops", "sha256": "\(digest)", "role": "operate"}], "audit_log": "audit/a.log",
             "audit_log_max_bytes": 12, "redact_patterns": ["*X*"], "allowed_hosts": ["corral.lan"], "allow_unauthenticated": true,
             "tls_cert_file": "\(directory)/cert.pem", "tls_key_file": "\(directory)/key.pem", "max_concurrent_requests": 13,
             "max_streams_per_token": 14, "session_starts_per_second": 15, "idle_timeout_seconds": 16, "request_timeout_seconds": 17}
            """
        )
        #expect(c.listen == .init(host: "0.0.0.0", port: 9) && c.store == .memory && c.dataDirectory == "/srv/state")
        #expect(c.nodeID == "n-1" && c.advertiseURL == "https://n1:9" && c.heartbeatIntervalSeconds == 3)
        #expect(c.sessionTimeoutSeconds == 10 && c.maxSessionTimeoutSeconds == 20 && c.graceSeconds == 0.5)
        #expect(c.startupTimeoutSeconds == 4 && c.assignTimeoutSeconds == 5 && c.maxSessions == 6 && c.sweepIntervalSeconds == 7)
        #expect(c.containment == .processGroup && c.cgroupRoot == "/sys/fs/cgroup/x" && c.watchIntervalSeconds == 8)
        #expect(c.shutdown == .drain && c.drainTimeoutSeconds == 9)
        #expect(c.agents == ["a": AgentProfile(command: ["a"]), "b": AgentProfile(command: ["b"])] && c.defaultAgent == "b")
        var livekit = LiveKitConfiguration(url: "wss://lk", apiKey: "k", apiSecret: "s")
        livekit.autoDispatchAgent = "a"
        livekit.sessionsPerRoom = 2
        livekit.tokenMarginSeconds = 3
        #expect(c.livekit == livekit)
        #expect(c.logLevel == .debug && c.logFormat == .json && c.logMaxBytes == 0 && c.logRetentionSeconds == 11)
        #expect(c.eventsWebhookURL == "http://hook/" && c.apiToken == "t")
        #expect(c.tokens == [AccessToken(name: "ops", sha256: Array(repeating: 0xAB, count: 32), role: .operate)])
        #expect(c.auditLogPath == "/srv/state/audit/a.log" && c.auditLogMaxBytes == 12 && c.redactPatterns == ["*X*"])
        #expect(c.allowedHosts == ["corral.lan"] && c.allowUnauthenticated)
        #expect(c.tlsCertificateFile == directory + "/cert.pem" && c.tlsKeyFile == directory + "/key.pem")
        #expect(c.maxConcurrentRequests == 13 && c.maxStreamsPerToken == 14 && c.sessionStartsPerSecond == 15)
        #expect(c.idleTimeoutSeconds == 16 && c.requestTimeoutSeconds == 17)
    }

    /// `node_id: null`, as docs/configuration.md's example has it, and an empty `CORRAL_NODE_ID` are the
    /// host name.
    @Test func nullNodeIDIsTheHostName() throws {
        #expect(try load(#"{"node_id": null}"#).nodeID == CorralConfiguration.hostName)
        #expect(try load(nil, environment: ["CORRAL_NODE_ID": ""]).nodeID == CorralConfiguration.hostName)
        #expect(try load(nil, environment: ["CORRAL_NODE_ID": "n2"]).nodeID == "n2")
    }

    /// A profile's keys reach the profile.
    @Test func everyProfileKeyReachesTheProfile() throws {
        let profile = try #require(
            try load(
                #"{"agents": {"a": {"command": ["a", ""], "env": {"K": "v"}, "cwd": "/tmp", "ready": "notify", "memory_limit_mb": 64, "pids_limit": 32, "cpu_limit": 0.5, "livekit": false, "prewarm": 1}}}"#
            ).agents["a"]
        )
        var expected = AgentProfile(
            command: ["a", ""], environment: ["K": "v"], workingDirectory: "/tmp", readiness: .notify, memoryLimitMB: 64, pidsLimit: 32, cpuLimit: 0.5
        )
        expected.prewarm = 1
        #expect(profile == expected)
    }

    /// Numbers too large for an integer are refused by name: they stopped corral with a crash
    /// (`user`: converting 1e30 to Int), or would have.
    @Test(arguments: [
        (#"{"agents": {"a": {"command": ["a"], "user": 1e30}}}"#, "agents.a.user"),
        (#"{"agents": {"a": {"command": ["a"], "group": 1e30}}}"#, "agents.a.group"),
        (#"{"livekit": {"url": "wss://lk", "api_key": "k", "api_secret": "s", "sessions_per_room": 1e30}}"#, "livekit.sessions_per_room"),
        (#"{"max_sessions": 1e30}"#, "max_sessions"),
    ])
    func hugeNumbersAreRefusedByName(json: String, key: String) {
        let message = message(json)
        #expect(message?.contains(key) == true, "\(message ?? "loaded without error")")
    }

    /// Every span of time is at most about 31 years: past about 10^20 s, `Duration.seconds` traps,
    /// and 1e30 in `sweep_interval_seconds`, `grace_seconds` or `idle_timeout_seconds` stopped
    /// corral with a crash, at start-up or at the first end. Each `*_seconds` key is tried, so a
    /// key added later is covered.
    @Test func everySpanOfTimeHasACeiling() throws {
        let keys = ConfigurationReference.rows(ConfigurationLoader.keys).map(\.key).filter { $0.hasSuffix("_seconds") }
        #expect(keys.count >= 16, "\(keys)")
        for key in keys {
            let path = key.replacingOccurrences(of: "*", with: "a")
            let huge = try Self.configuration(setting: path, to: 1e30)
            let message = message(huge)
            #expect(message?.contains(path + ": must be at most 1000000000") == true, "\(key): \(message ?? "loaded without error")")
            let longest = self.message(try Self.configuration(setting: path, to: 1e9))
            #expect(longest?.contains("must be at most") != true, "\(key): 1e9 is allowed: \(longest ?? "")")
        }
    }

    /// How often something recurring runs: a pause too short to measure would be a busy loop.
    @Test(arguments: ["heartbeat_interval_seconds", "sweep_interval_seconds", "watch_interval_seconds"])
    func intervalsHaveAFloor(key: String) throws {
        let message = message(try Self.configuration(setting: key, to: 1e-9))
        #expect(message?.contains(key + ": must be at least 0.01") == true, "\(message ?? "loaded without error")")
    }

    /// A configuration with `value` at `path` (dots between keys), with what the key's object
    /// needs to load otherwise: a profile's command, LiveKit's credentials.
    static func configuration(setting path: String, to value: Double) throws -> String {
        var root: [String: Any] = [:]
        if path.contains("livekit") { root["livekit"] = ["url": "wss://lk", "api_key": "k", "api_secret": "s"] }
        if path.hasPrefix("agents.") { root["agents"] = ["a": ["command": ["a"]]] }
        func set(_ keys: ArraySlice<Substring>, in object: inout [String: Any]) {
            guard let first = keys.first.map(String.init) else { return }
            if keys.count == 1 {
                object[first] = value
                return
            }
            var inner = object[first] as? [String: Any] ?? [:]
            set(keys.dropFirst(), in: &inner)
            object[first] = inner
        }
        set(path.split(separator: ".")[...], in: &root)
        return String(decoding: try JSONSerialization.data(withJSONObject: root), as: UTF8.self)
    }

    @Test func templateSettingsLoad() throws {
        let defaults = try load(#"{"agents": {"voice": {"command": ["agent"], "template": true}}}"#).agents["voice"]?.template
        #expect(defaults == TemplateSettings())
        #expect(defaults?.forkTimeoutSeconds == 5)
        #expect(defaults?.maxQueuedForks == 64)
        let given = try load(
            #"{"agents": {"voice": {"command": ["agent"], "template": {"memory_limit_mb": 2048, "startup_timeout_seconds": 90, "fork_timeout_seconds": 2, "max_queued_forks": 8}}}}"#
        ).agents["voice"]?.template
        #expect(given?.memoryLimitMB == 2048)
        #expect(given?.startupTimeoutSeconds == 90)
        #expect(given?.forkTimeoutSeconds == 2)
        #expect(given?.maxQueuedForks == 8)
        #expect(given?.limits == ResourceLimits(memoryBytes: 2048 << 20))
        #expect(try load(#"{"agents": {"voice": {"command": ["agent"], "template": false}}}"#).agents["voice"]?.template == nil)
        #expect(try load(#"{"agents": {"voice": {"command": ["agent"], "template": null}}}"#).agents["voice"]?.template == nil)
        #expect(try load(nil).agents.values.allSatisfy { $0.template == nil })
        #expect(message(#"{"agents": {"voice": {"command": ["agent"], "template": "yes"}}}"#)?.contains("agents.voice.template: expected true, false or an object") == true)
        #expect(message(#"{"agents": {"voice": {"command": ["agent"], "template": {"memory": 1}}}}"#)?.contains("agents.voice.template.memory: unknown key") == true)
        #expect(message(#"{"agents": {"voice": {"command": ["agent"], "template": {"fork_timeout_seconds": 0}}}}"#)?.contains("agents.voice.template.fork_timeout_seconds") == true)
        #expect(message(nil, environment: ["CORRAL_AGENTS": #"{"a": {"command": ["a"], "template": {"max_queued_forks": 0}}}"#])?.contains("CORRAL_AGENTS.a.template.max_queued_forks") == true)
    }

    /// The checks across keys, once every key is read.
    @Test(arguments: [
        (#"{"api_token": "a", "api_token_file": "/etc/hostname"}"#, "api_token_file: set either api_token or api_token_file"),
        (#"{"tls_cert_file": "/etc/hostname"}"#, "tls_key_file: required with tls_cert_file (set both, or neither)"),
        (#"{"tls_key_file": "/etc/hostname"}"#, "tls_cert_file: required with tls_key_file (set both, or neither)"),
        (#"{"livekit": {"url": "wss://lk", "api_key": "k"}}"#, "livekit: api_secret or api_secret_file is required"),
        (#"{"livekit": {"url": "wss://lk", "api_key": "k", "api_secret": "s", "api_secret_file": "/etc/hostname"}}"#, "livekit: set api_secret or api_secret_file, not both"),
        (#"{"agents": {"a": {"command": ["a"], "livekit": true}}}"#, "agents.a.livekit: a LiveKit agent needs the livekit configuration"),
        (#"{"max_session_timeout_seconds": 100}"#, "session_timeout_seconds: 14400 is above max_session_timeout_seconds (100)"),
    ])
    func keysThatDependOnOthers(json: String, expected: String) {
        let message = message(json)
        #expect(message?.contains(expected) == true, "\(message ?? "loaded without error")")
    }

    /// A value from the environment is named by its variable, inside objects too.
    @Test func nestedEnvironmentValuesNameTheVariable() {
        #expect(message(nil, environment: ["CORRAL_LIVEKIT": #"{"url": "wss://lk", "api_key": ""}"#])?.contains("CORRAL_LIVEKIT.api_key") == true)
        #expect(message(nil, environment: ["CORRAL_AGENTS": #"{"a": {"command": ["a"], "ready": "soon"}}"#])?.contains("CORRAL_AGENTS.a.ready") == true)
        #expect(message(nil, environment: ["CORRAL_MAX_SESSIONS": "0"])?.contains("CORRAL_MAX_SESSIONS") == true)
        #expect(message(nil, environment: ["CORRAL_LIVEKIT": #"{"url": "wss://lk", "api_key": "k"}"#])?.contains("CORRAL_LIVEKIT: api_secret") == true)
    }

    @Test func missingFileIsAnError() {
        #expect(throws: CorralError.self) {
            try ConfigurationLoader.load(file: "/nonexistent/corral.json", environment: [:])
        }
    }
}
