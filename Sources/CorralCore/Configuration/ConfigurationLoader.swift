import Foundation
import Logging
import RedisClient

/// Builds a `CorralConfiguration` from a JSON file and the environment.
///
/// Keys (file key / environment variable, type, default):
/// - `listen` / `CORRAL_LISTEN`, `"host:port"`, `"127.0.0.1:8080"`
/// - `store` / `CORRAL_STORE`, `"sqlite:PATH"` | `"memory"`, `"sqlite:corral.db"` (relative paths
///   are inside the data directory)
/// - `data_dir` / `CORRAL_DATA_DIR`, path, `"corral-data"` (relative to the working directory)
/// - `session_timeout_seconds` / `CORRAL_SESSION_TIMEOUT_SECONDS` or `SESSION_TIMEOUT`, number, 14400
/// - `max_session_timeout_seconds` / `CORRAL_MAX_SESSION_TIMEOUT_SECONDS`, number, 86400
/// - `grace_seconds` / `CORRAL_GRACE_SECONDS`, number, 2
/// - `startup_timeout_seconds` / `CORRAL_STARTUP_TIMEOUT_SECONDS`, number, 30
/// - `assign_timeout_seconds` / `CORRAL_ASSIGN_TIMEOUT_SECONDS`, number, 2: how long a prewarmed
///   agent has to acknowledge a session
/// - `api_token` / `CORRAL_API_TOKEN`, string or null, null (no authentication)
/// - `allowed_hosts` / `CORRAL_ALLOWED_HOSTS` (JSON), array of host names, `[]`: more names corral
///   answers for without a token (besides loopback, `listen` and `advertise_url`)
/// - `allow_unauthenticated` / `CORRAL_ALLOW_UNAUTHENTICATED`, boolean, false: lets `corral serve`
///   listen on a non-loopback address without any token
/// - `default_agent` / `CORRAL_DEFAULT_AGENT`, profile name, `"demo"`
/// - `agents` / `CORRAL_AGENTS` (JSON), object of profiles, the demo agent. A profile:
///   `command` (non-empty array of strings), `env` (object of strings, `{}`), `cwd` (string or
///   null), `ready` (`"exec"` | `"notify"`, `"exec"`), `memory_limit_mb` (positive integer or null),
///   `pids_limit` (positive integer or null), `cpu_limit` (cores, e.g. 0.5, or null)
/// - `max_sessions` / `CORRAL_MAX_SESSIONS`, positive integer, 1000
/// - `sweep_interval_seconds` / `CORRAL_SWEEP_INTERVAL_SECONDS`, number, 60
/// - `log_level` / `CORRAL_LOG_LEVEL`, `trace` … `critical`, `info`
/// - `containment` / `CORRAL_CONTAINMENT`, `auto` | `cgroup` | `cgroup-attach` | `process-group`, `auto`
/// - `cgroup_root` / `CORRAL_CGROUP_ROOT`, a directory in the cgroup v2 hierarchy or null, null
///   (`corral` next to corral's own cgroup)
/// - `watch_interval_seconds` / `CORRAL_WATCH_INTERVAL_SECONDS`, number, 2 (limit checks)
/// - `shutdown` / `CORRAL_SHUTDOWN`, `terminate` | `drain` | `detach`, `terminate`
/// - `drain_timeout_seconds` / `CORRAL_DRAIN_TIMEOUT_SECONDS`, number, 300
/// - `log_max_bytes` / `CORRAL_LOG_MAX_BYTES`, integer, 10485760 (0: no cap)
/// - `log_retention_seconds` / `CORRAL_LOG_RETENTION_SECONDS`, number, 604800 (7 days)
/// - `log_format` / `CORRAL_LOG_FORMAT`, `text` | `json`, `text`
/// - `events_webhook_url` / `CORRAL_EVENTS_WEBHOOK_URL`, `http(s)://…` or null, null
/// - `api_token_file` / `CORRAL_API_TOKEN_FILE`, a file holding the admin token, null
/// - `tokens` / `CORRAL_TOKENS` (JSON), `[{"name", "sha256" (hex), "role": "read"|"operate"|"admin"}]`, `[]`
/// - `audit_log` / `CORRAL_AUDIT_LOG`, path, `audit.log` in the data directory
/// - `audit_log_max_bytes` / `CORRAL_AUDIT_LOG_MAX_BYTES`, integer, 10485760
/// - `redact_patterns` / `CORRAL_REDACT_PATTERNS` (JSON), array of names with `*`, the defaults of
///   `Redactor`
/// - `max_concurrent_requests` / `CORRAL_MAX_CONCURRENT_REQUESTS`, positive integer, 256
/// - `max_streams_per_token` / `CORRAL_MAX_STREAMS_PER_TOKEN`, positive integer, 16: event streams
///   and followed logs open at once per token
/// - `session_starts_per_second` / `CORRAL_SESSION_STARTS_PER_SECOND`, number, 50 (per token)
/// - `idle_timeout_seconds` / `CORRAL_IDLE_TIMEOUT_SECONDS`, number, 60
/// - `request_timeout_seconds` / `CORRAL_REQUEST_TIMEOUT_SECONDS`, number, 30: a request's headers
///   and body must arrive within this of its first byte
/// - `tls_cert_file`, `tls_key_file` / `CORRAL_TLS_CERT_FILE`, `CORRAL_TLS_KEY_FILE`, PEM paths, null
/// - `node_id` / `CORRAL_NODE_ID`, string, the host name
/// - `advertise_url` / `CORRAL_ADVERTISE_URL`, `http(s)://host:port` other nodes reach this one at,
///   derived from `listen`
/// - `heartbeat_interval_seconds` / `CORRAL_HEARTBEAT_INTERVAL_SECONDS`, number, 2
/// - `livekit` / `CORRAL_LIVEKIT` (JSON), `{"url", "api_key", "api_secret" | "api_secret_file",
///   "auto_dispatch_agent"?, "sessions_per_room"? (1), "token_margin_seconds"? (600)}`, null
/// A profile may also set `user` and `group` (names or numbers) to run its agent as, and
/// `livekit: true` to give its agent LiveKit credentials.
///
/// The environment overrides the file. Unknown keys and bad values are errors naming the key.
public enum ConfigurationLoader {
    private enum Kind { case string, number, nullableString, json }

    private static let keys: [(name: String, kind: Kind)] = [
        ("listen", .string), ("store", .string), ("data_dir", .string),
        ("session_timeout_seconds", .number), ("max_session_timeout_seconds", .number),
        ("grace_seconds", .number), ("startup_timeout_seconds", .number), ("assign_timeout_seconds", .number),
        ("api_token", .nullableString), ("default_agent", .string), ("agents", .json),
        ("max_sessions", .number), ("sweep_interval_seconds", .number), ("log_level", .string),
        ("containment", .string), ("cgroup_root", .nullableString), ("watch_interval_seconds", .number),
        ("shutdown", .string), ("drain_timeout_seconds", .number),
        ("log_max_bytes", .number), ("log_retention_seconds", .number), ("log_format", .string),
        ("events_webhook_url", .nullableString),
        ("api_token_file", .nullableString), ("tokens", .json), ("audit_log", .nullableString), ("audit_log_max_bytes", .number),
        ("redact_patterns", .json), ("max_concurrent_requests", .number), ("session_starts_per_second", .number),
        ("idle_timeout_seconds", .number), ("tls_cert_file", .nullableString), ("tls_key_file", .nullableString),
        ("node_id", .string), ("advertise_url", .nullableString), ("heartbeat_interval_seconds", .number),
        ("livekit", .json), ("allowed_hosts", .json), ("allow_unauthenticated", .json),
        ("request_timeout_seconds", .number), ("max_streams_per_token", .number),
    ]

    /// - Parameters:
    ///   - file: a JSON configuration file, or nil for the embedded defaults.
    ///   - environment: the process environment (`CORRAL_<KEY>` overrides).
    ///   - workingDirectory: what relative `data_dir` paths are relative to.
    public static func load(
        file: String?,
        environment: [String: String],
        workingDirectory: String = FileManager.default.currentDirectoryPath
    ) throws(CorralError) -> CorralConfiguration {
        var values: [String: (JSONValue, source: String)] = [:]
        if let file {
            guard let data = FileManager.default.contents(atPath: file) else {
                throw configurationError("cannot read configuration file \(file)")
            }
            guard case .object(let object)? = JSONValue.parse(data) else {
                throw configurationError("\(file) is not a JSON object")
            }
            for (key, value) in object { values[key] = (value, key) }
        }
        for (key, kind) in keys {
            let variable = "CORRAL_" + key.uppercased()
            var raw = environment[variable]
            var source = variable
            if key == "session_timeout_seconds", raw == nil, let alias = environment["SESSION_TIMEOUT"] {
                raw = alias
                source = "SESSION_TIMEOUT"
            }
            guard let raw else { continue }
            values[key] = (try environmentValue(raw, kind: kind, variable: source), source)
        }
        return try build(values, workingDirectory: workingDirectory)
    }

    private static func environmentValue(_ raw: String, kind: Kind, variable: String) throws(CorralError) -> JSONValue {
        switch kind {
        case .string: return .string(raw)
        case .nullableString: return raw.isEmpty ? .null : .string(raw)
        case .number:
            guard let number = Double(raw.trimmingCharacters(in: .whitespaces)) else {
                throw configurationError("\(variable): expected a number, got '\(raw)'")
            }
            return .number(number)
        case .json:
            guard let value = JSONValue.parse(Array(raw.utf8)) else {
                throw configurationError("\(variable): expected JSON")
            }
            return value
        }
    }

    private static func build(
        _ values: [String: (JSONValue, source: String)],
        workingDirectory: String
    ) throws(CorralError) -> CorralConfiguration {
        let known = Set(keys.map(\.name))
        if let unknown = values.keys.filter({ !known.contains($0) }).sorted().first {
            throw configurationError("\(unknown): unknown configuration key (known keys: \(keys.map(\.name).joined(separator: ", ")))")
        }
        var configuration = CorralConfiguration()
        let reader = Reader(values: values)

        if let listen = try reader.string("listen") {
            configuration.listen = try parseListen(listen, key: reader.source("listen"))
        }
        if let store = try reader.string("store") {
            configuration.store = try parseStore(store, key: reader.source("store"))
        }
        if let directory = try reader.string("data_dir") {
            guard !directory.isEmpty else { throw configurationError("\(reader.source("data_dir")): must not be empty") }
            configuration.dataDirectory = directory
        }
        if !configuration.dataDirectory.hasPrefix("/") {
            configuration.dataDirectory = workingDirectory + "/" + configuration.dataDirectory
        }
        configuration.dataDirectory = URL(fileURLWithPath: configuration.dataDirectory).standardizedFileURL.path
        configuration.agents = [DemoAgent.profileName: DemoAgent.profile(dataDirectory: configuration.dataDirectory)]

        configuration.sessionTimeoutSeconds = try reader.positive("session_timeout_seconds") ?? configuration.sessionTimeoutSeconds
        configuration.maxSessionTimeoutSeconds = try reader.positive("max_session_timeout_seconds") ?? configuration.maxSessionTimeoutSeconds
        configuration.graceSeconds = try reader.number("grace_seconds", minimum: 0) ?? configuration.graceSeconds
        configuration.startupTimeoutSeconds = try reader.positive("startup_timeout_seconds") ?? configuration.startupTimeoutSeconds
        configuration.assignTimeoutSeconds = try reader.positive("assign_timeout_seconds") ?? configuration.assignTimeoutSeconds
        configuration.sweepIntervalSeconds = try reader.positive("sweep_interval_seconds") ?? configuration.sweepIntervalSeconds
        if let maxSessions = try reader.integer("max_sessions", minimum: 1) { configuration.maxSessions = maxSessions }
        if configuration.sessionTimeoutSeconds > configuration.maxSessionTimeoutSeconds {
            throw configurationError(
                "\(reader.source("session_timeout_seconds")): \(configuration.sessionTimeoutSeconds) is above max_session_timeout_seconds (\(configuration.maxSessionTimeoutSeconds))"
            )
        }
        if let token = try reader.nullableString("api_token") {
            guard !token.isEmpty else { throw configurationError("\(reader.source("api_token")): must not be empty (use null for no token)") }
            configuration.apiToken = token
        }
        configuration.watchIntervalSeconds = try reader.positive("watch_interval_seconds") ?? configuration.watchIntervalSeconds
        if let mode = try reader.string("containment") {
            guard let parsed = CorralConfiguration.ContainmentMode(rawValue: mode) else {
                throw configurationError(
                    "\(reader.source("containment")): expected one of \(CorralConfiguration.ContainmentMode.allCases.map(\.rawValue).joined(separator: ", "))"
                )
            }
            configuration.containment = parsed
        }
        configuration.drainTimeoutSeconds = try reader.number("drain_timeout_seconds", minimum: 0) ?? configuration.drainTimeoutSeconds
        if let mode = try reader.string("shutdown") {
            guard let parsed = CorralConfiguration.ShutdownMode(rawValue: mode) else {
                throw configurationError(
                    "\(reader.source("shutdown")): expected one of \(CorralConfiguration.ShutdownMode.allCases.map(\.rawValue).joined(separator: ", "))"
                )
            }
            configuration.shutdown = parsed
        }
        if let bytes = try reader.integer("log_max_bytes", minimum: 0) { configuration.logMaxBytes = UInt64(bytes) }
        configuration.logRetentionSeconds = try reader.positive("log_retention_seconds") ?? configuration.logRetentionSeconds
        if let format = try reader.string("log_format") {
            guard let parsed = CorralConfiguration.LogFormat(rawValue: format) else {
                throw configurationError("\(reader.source("log_format")): expected text or json")
            }
            configuration.logFormat = parsed
        }
        if let url = try reader.nullableString("events_webhook_url") {
            guard let parsed = URL(string: url), ["http", "https"].contains(parsed.scheme ?? ""), parsed.host != nil else {
                throw configurationError("\(reader.source("events_webhook_url")): expected an http:// or https:// URL")
            }
            configuration.eventsWebhookURL = url
        }
        try readSecurity(reader, values, into: &configuration)
        if let node = try reader.string("node_id") {
            guard !node.isEmpty, node.utf8.count <= 128, node.allSatisfy({ $0.isLetter || $0.isNumber || "._-".contains($0) }) else {
                throw configurationError("\(reader.source("node_id")): 1 to 128 letters, digits, '.', '_' or '-'")
            }
            configuration.nodeID = node
        }
        if let url = try reader.nullableString("advertise_url") {
            guard let parsed = URL(string: url), ["http", "https"].contains(parsed.scheme ?? ""), parsed.host != nil else {
                throw configurationError("\(reader.source("advertise_url")): expected http(s)://host:port")
            }
            configuration.advertiseURL = url.hasSuffix("/") ? String(url.dropLast()) : url
        }
        configuration.heartbeatIntervalSeconds = try reader.positive("heartbeat_interval_seconds") ?? configuration.heartbeatIntervalSeconds
        if let (value, source) = values["livekit"], value != .null {
            configuration.livekit = try parseLiveKit(value, key: source)
        }
        if let root = try reader.nullableString("cgroup_root") {
            guard root.hasPrefix("/"), !root.split(separator: "/").contains("..") else {
                throw configurationError("\(reader.source("cgroup_root")): expected an absolute path in the cgroup v2 hierarchy")
            }
            configuration.cgroupRoot = root
        }
        if let level = try reader.string("log_level") {
            guard let parsed = Logger.Level(rawValue: level.lowercased()) else {
                throw configurationError("\(reader.source("log_level")): expected one of trace, debug, info, notice, warning, error, critical")
            }
            configuration.logLevel = parsed
        }
        if let agents = values["agents"] {
            guard case .object(let profiles) = agents.0 else {
                throw configurationError("\(agents.source): expected an object of agent profiles, got \(agents.0.typeName)")
            }
            guard !profiles.isEmpty else { throw configurationError("\(agents.source): at least one agent profile is needed") }
            var parsed: [String: AgentProfile] = [:]
            for (name, value) in profiles {
                parsed[name] = try parseProfile(value, key: "\(agents.source).\(name)")
            }
            configuration.agents = parsed
            if values["default_agent"] == nil, parsed[configuration.defaultAgent] == nil, parsed.count == 1 {
                configuration.defaultAgent = parsed.keys.first!
            }
        }
        if let defaultAgent = try reader.string("default_agent") {
            configuration.defaultAgent = defaultAgent
        }
        try checkReferences(configuration, livekitKey: reader.source("livekit"))
        return configuration
    }

    private static func readSecurity(
        _ reader: Reader,
        _ values: [String: (JSONValue, source: String)],
        into configuration: inout CorralConfiguration
    ) throws(CorralError) {
        if let file = try reader.nullableString("api_token_file") {
            guard configuration.apiToken == nil else {
                throw configurationError("\(reader.source("api_token_file")): set either api_token or api_token_file, not both")
            }
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
                throw configurationError("\(reader.source("api_token_file")): cannot read \(file)")
            }
            let token = text.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !token.isEmpty else { throw configurationError("\(reader.source("api_token_file")): \(file) is empty") }
            configuration.apiToken = token
        }
        if let (value, source) = values["tokens"] {
            guard case .array(let items) = value else { throw configurationError("\(source): expected an array of tokens") }
            var names = Set<String>()
            for (index, item) in items.enumerated() {
                let key = "\(source)[\(index)]"
                guard case .object(let fields) = item else { throw configurationError("\(key): expected an object") }
                if let unknown = fields.keys.filter({ !["name", "sha256", "role"].contains($0) }).sorted().first {
                    throw configurationError("\(key).\(unknown): unknown key (known: name, sha256, role)")
                }
                guard case .string(let name)? = fields["name"], !name.isEmpty, names.insert(name).inserted else {
                    throw configurationError("\(key).name: expected a unique, non-empty name")
                }
                guard case .string(let hex)? = fields["sha256"], let digest = hexBytes(hex), digest.count == 32 else {
                    throw configurationError("\(key).sha256: expected the token's SHA-256 as 64 hex digits (e.g. printf %s TOKEN | sha256sum)")
                }
                guard case .string(let roleName)? = fields["role"], let role = Role(rawValue: roleName) else {
                    throw configurationError("\(key).role: expected read, operate or admin")
                }
                configuration.tokens.append(AccessToken(name: name, sha256: digest, role: role))
            }
        }
        if let path = try reader.nullableString("audit_log") {
            guard !path.isEmpty else { throw configurationError("\(reader.source("audit_log")): must not be empty") }
            configuration.auditLogPath = path.hasPrefix("/") ? path : configuration.dataDirectory + "/" + path
        }
        if let bytes = try reader.integer("audit_log_max_bytes", minimum: 0) { configuration.auditLogMaxBytes = UInt64(bytes) }
        if let (value, source) = values["redact_patterns"] {
            guard case .array(let items) = value else { throw configurationError("\(source): expected an array of strings") }
            configuration.redactPatterns = try items.enumerated().map { (index, item) throws(CorralError) -> String in
                guard case .string(let pattern) = item, !pattern.isEmpty else {
                    throw configurationError("\(source)[\(index)]: expected a non-empty string")
                }
                return pattern
            }
        }
        if let (value, source) = values["allowed_hosts"], value != .null {
            guard case .array(let items) = value else { throw configurationError("\(source): expected an array of host names") }
            configuration.allowedHosts = try items.enumerated().map { (index, item) throws(CorralError) -> String in
                guard case .string(let host) = item, !host.isEmpty, !host.contains(where: { "/@ ".contains($0) }) else {
                    throw configurationError("\(source)[\(index)]: expected a host name, e.g. corral.internal")
                }
                return host
            }
        }
        switch values["allow_unauthenticated"] {
        case nil, (.null, _)?: break
        case (.bool(let flag), _)?: configuration.allowUnauthenticated = flag
        case (_, let source)?: throw configurationError("\(source): expected true or false")
        }
        if let count = try reader.integer("max_concurrent_requests", minimum: 1) { configuration.maxConcurrentRequests = count }
        if let count = try reader.integer("max_streams_per_token", minimum: 1) { configuration.maxStreamsPerToken = count }
        configuration.sessionStartsPerSecond = try reader.positive("session_starts_per_second") ?? configuration.sessionStartsPerSecond
        configuration.idleTimeoutSeconds = try reader.positive("idle_timeout_seconds") ?? configuration.idleTimeoutSeconds
        configuration.requestTimeoutSeconds = try reader.positive("request_timeout_seconds") ?? configuration.requestTimeoutSeconds
        configuration.tlsCertificateFile = try reader.nullableString("tls_cert_file")
        configuration.tlsKeyFile = try reader.nullableString("tls_key_file")
        guard (configuration.tlsCertificateFile == nil) == (configuration.tlsKeyFile == nil) else {
            throw configurationError("tls_cert_file and tls_key_file: set both, or neither")
        }
        for file in [configuration.tlsCertificateFile, configuration.tlsKeyFile].compactMap({ $0 }) where !FileManager.default.isReadableFile(atPath: file) {
            throw configurationError("tls: cannot read \(file)")
        }
    }

    static func hexBytes(_ text: String) -> [UInt8]? {
        let characters = Array(text.lowercased().utf8)
        guard characters.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        for index in stride(from: 0, to: characters.count, by: 2) {
            guard let high = hexValue(characters[index]), let low = hexValue(characters[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
        }
        return bytes
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        default: nil
        }
    }

    static func parseListen(_ text: String, key: String) throws(CorralError) -> CorralConfiguration.ListenAddress {
        var host: Substring
        var port: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else {
                throw configurationError("\(key): expected [IPv6]:PORT, got '\(text)'")
            }
            host = text[text.index(after: text.startIndex)..<close]
            port = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":") else {
                throw configurationError("\(key): expected HOST:PORT, got '\(text)'")
            }
            host = text[..<colon]
            port = text[text.index(after: colon)...]
        }
        if host.isEmpty { host = "127.0.0.1" }
        guard let number = Int(port), (0...65535).contains(number) else {
            throw configurationError("\(key): '\(port)' is not a port number (0-65535)")
        }
        return .init(host: String(host), port: number)
    }

    static func parseStore(_ text: String, key: String) throws(CorralError) -> CorralConfiguration.StoreLocation {
        if text == "memory" { return .memory }
        if text.hasPrefix("sqlite:") {
            let path = String(text.dropFirst("sqlite:".count))
            guard !path.isEmpty else { throw configurationError("\(key): sqlite: needs a path, e.g. sqlite:corral.db") }
            return .sqlite(path: path)
        }
        if text.hasPrefix("redis://") || text.hasPrefix("rediss://") {
            do {
                _ = try RedisURL(parsing: text)
            } catch {
                throw configurationError("\(key): \(error.message)")
            }
            return .redis(url: text)
        }
        throw configurationError("\(key): expected sqlite:PATH, memory or redis://[:password@]host:port[/db], got '\(text)'")
    }

    private static let profileKeys: Set<String> = [
        "command", "env", "cwd", "ready", "memory_limit_mb", "pids_limit", "cpu_limit", "user", "group", "livekit", "prewarm",
    ]

    static func parseProfile(_ value: JSONValue, key: String) throws(CorralError) -> AgentProfile {
        guard case .object(let fields) = value else {
            throw configurationError("\(key): expected an object, got \(value.typeName)")
        }
        if let unknown = fields.keys.filter({ !profileKeys.contains($0) }).sorted().first {
            throw configurationError("\(key).\(unknown): unknown key (known: \(profileKeys.sorted().joined(separator: ", ")))")
        }
        guard case .array(let items)? = fields["command"], !items.isEmpty else {
            throw configurationError("\(key).command: expected a non-empty array of strings (the argv, no shell)")
        }
        var command: [String] = []
        for (index, item) in items.enumerated() {
            guard case .string(let argument) = item, !argument.contains("\0") else {
                throw configurationError("\(key).command[\(index)]: expected a string")
            }
            command.append(argument)
        }
        guard !command[0].isEmpty else { throw configurationError("\(key).command[0]: the program must not be empty") }
        var profile = AgentProfile(command: command)
        switch fields["env"] {
        case nil, .null?: break
        case .object(let variables)?:
            for (name, value) in variables {
                guard EnvironmentName.isValid(name) else {
                    throw configurationError("\(key).env.\(name): not a valid environment variable name")
                }
                guard case .string(let text) = value, !text.contains("\0") else {
                    throw configurationError("\(key).env.\(name): expected a string")
                }
                profile.environment[name] = text
            }
        case let other?: throw configurationError("\(key).env: expected an object of strings, got \(other.typeName)")
        }
        switch fields["cwd"] {
        case nil, .null?: break
        case .string(let directory)? where !directory.isEmpty: profile.workingDirectory = directory
        case let other?: throw configurationError("\(key).cwd: expected a directory path or null, got \(other.typeName)")
        }
        switch fields["ready"] {
        case nil, .null?: break
        case .string(let mode)?:
            guard let readiness = AgentProfile.Readiness(rawValue: mode) else {
                throw configurationError("\(key).ready: expected \"exec\" or \"notify\", got \"\(mode)\"")
            }
            profile.readiness = readiness
        case let other?: throw configurationError("\(key).ready: expected \"exec\" or \"notify\", got \(other.typeName)")
        }
        switch fields["memory_limit_mb"] {
        case nil, .null?: break
        case .number(let megabytes)? where megabytes >= 1 && megabytes == megabytes.rounded() && megabytes < 1e9:
            profile.memoryLimitMB = Int(megabytes)
        case let other?: throw configurationError("\(key).memory_limit_mb: expected a positive integer or null, got \(other)")
        }
        switch fields["pids_limit"] {
        case nil, .null?: break
        case .number(let count)? where count >= 1 && count == count.rounded() && count < 1e9:
            profile.pidsLimit = Int(count)
        case let other?: throw configurationError("\(key).pids_limit: expected a positive integer or null, got \(other)")
        }
        switch fields["cpu_limit"] {
        case nil, .null?: break
        case .number(let cores)? where cores >= 0.01 && cores <= 4096:
            profile.cpuLimit = cores
        case let other?: throw configurationError("\(key).cpu_limit: expected a fraction of a core (e.g. 0.5) or null, got \(other)")
        }
        profile.user = try parseUser(fields, key: key)
        switch fields["livekit"] {
        case nil, .null?: break
        case .bool(let flag)?: profile.livekit = flag
        case let other?: throw configurationError("\(key).livekit: expected true or false, got \(other.typeName)")
        }
        switch fields["prewarm"] {
        case nil, .null?: break
        case .number(let count)? where count >= 0 && count <= 1000 && count == count.rounded():
            profile.prewarm = Int(count)
        case let other?: throw configurationError("\(key).prewarm: expected a number of idle agents from 0 to 1000, got \(other)")
        }
        return profile
    }

    private static func parseLiveKit(_ value: JSONValue, key: String) throws(CorralError) -> LiveKitConfiguration {
        guard case .object(let fields) = value else { throw configurationError("\(key): expected an object") }
        let known = ["url", "api_key", "api_secret", "api_secret_file", "auto_dispatch_agent", "sessions_per_room", "token_margin_seconds"]
        if let unknown = fields.keys.filter({ !known.contains($0) }).sorted().first {
            throw configurationError("\(key).\(unknown): unknown key (known: \(known.joined(separator: ", ")))")
        }
        func text(_ name: String) throws(CorralError) -> String? {
            switch fields[name] {
            case nil, .null?: return nil
            case .string(let value)? where !value.isEmpty: return value
            default: throw configurationError("\(key).\(name): expected a non-empty string")
            }
        }
        guard let url = try text("url"), url.hasPrefix("ws://") || url.hasPrefix("wss://") || url.hasPrefix("http://") || url.hasPrefix("https://") else {
            throw configurationError("\(key).url: expected the LiveKit server URL (wss://…)")
        }
        guard let apiKey = try text("api_key") else { throw configurationError("\(key).api_key: required") }
        var secret = try text("api_secret")
        if let file = try text("api_secret_file") {
            guard secret == nil else { throw configurationError("\(key): set api_secret or api_secret_file, not both") }
            guard let contents = try? String(contentsOfFile: file, encoding: .utf8) else {
                throw configurationError("\(key).api_secret_file: cannot read \(file)")
            }
            secret = contents.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        guard let secret, !secret.isEmpty else { throw configurationError("\(key): api_secret or api_secret_file is required") }
        var livekit = LiveKitConfiguration(url: url, apiKey: apiKey, apiSecret: secret)
        livekit.autoDispatchAgent = try text("auto_dispatch_agent")
        switch fields["sessions_per_room"] {
        case nil, .null?: break
        case .number(let count)? where count >= 1 && count == count.rounded(): livekit.sessionsPerRoom = Int(count)
        default: throw configurationError("\(key).sessions_per_room: expected a positive integer")
        }
        switch fields["token_margin_seconds"] {
        case nil, .null?: break
        case .number(let seconds)? where seconds >= 0: livekit.tokenMarginSeconds = seconds
        default: throw configurationError("\(key).token_margin_seconds: expected a number of seconds")
        }
        return livekit
    }

    /// `user` and `group`: resolved now, so a typo stops start-up instead of failing a session.
    private static func parseUser(_ fields: [String: JSONValue], key: String) throws(CorralError) -> AgentUser? {
        func text(_ name: String) throws(CorralError) -> String? {
            switch fields[name] {
            case nil, .null?: return nil
            case .string(let value)? where !value.isEmpty: return value
            case .number(let value)? where value >= 0 && value == value.rounded(): return String(Int(value))
            case let other?: throw configurationError("\(key).\(name): expected a name or a number, got \(other.typeName)")
            }
        }
        let userName = try text("user")
        let groupName = try text("group")
        guard userName != nil || groupName != nil else { return nil }
        guard Users.isRoot else {
            throw configurationError("\(key).user/group: running agents as another user needs corral to run as root")
        }
        var uid: UInt32 = 0
        var gid: UInt32 = 0
        var groups: [UInt32] = []
        if let userName {
            guard let account = Users.user(userName) else { throw configurationError("\(key).user: no user '\(userName)'") }
            uid = account.uid
            gid = account.gid
            groups = Users.groups(of: account.name, gid: account.gid)
        }
        if let groupName {
            guard let group = Users.group(groupName) else { throw configurationError("\(key).group: no group '\(groupName)'") }
            gid = group
            groups = userName == nil ? [group] : Array(Set(groups + [group]))
        }
        return AgentUser(uid: uid, gid: gid, groups: groups)
    }

    static func configurationError(_ message: String) -> CorralError {
        CorralError(.configuration, "configuration: \(message)")
    }

    /// Typed access to the merged values, with errors naming where each value came from.
    private struct Reader {
        let values: [String: (JSONValue, source: String)]

        func source(_ key: String) -> String { values[key]?.source ?? key }

        func string(_ key: String) throws(CorralError) -> String? {
            guard let (value, source) = values[key] else { return nil }
            guard case .string(let text) = value else {
                throw configurationError("\(source): expected a string, got \(value.typeName)")
            }
            return text
        }

        func nullableString(_ key: String) throws(CorralError) -> String? {
            if case .null? = values[key]?.0 { return nil }
            return try string(key)
        }

        func number(_ key: String, minimum: Double) throws(CorralError) -> Double? {
            guard let (value, source) = values[key] else { return nil }
            guard case .number(let number) = value, number.isFinite else {
                throw configurationError("\(source): expected a number, got \(value.typeName)")
            }
            guard number >= minimum else {
                throw configurationError("\(source): must be at least \(minimum), got \(number)")
            }
            return number
        }

        func positive(_ key: String) throws(CorralError) -> Double? {
            guard let number = try number(key, minimum: 0) else { return nil }
            guard number > 0 else { throw configurationError("\(source(key)): must be greater than 0") }
            return number
        }

        func integer(_ key: String, minimum: Int) throws(CorralError) -> Int? {
            guard let number = try number(key, minimum: Double(minimum)) else { return nil }
            guard number == number.rounded(), number < 1e12 else {
                throw configurationError("\(source(key)): expected a whole number, got \(number)")
            }
            return Int(number)
        }
    }
}

/// Environment variable names corral accepts in profiles.
enum EnvironmentName {
    static func isValid(_ name: String) -> Bool {
        guard let first = name.utf8.first, first == UInt8(ascii: "_") || (first | 0x20) >= UInt8(ascii: "a") && (first | 0x20) <= UInt8(ascii: "z")
        else { return false }
        return name.utf8.allSatisfy { byte in
            byte == UInt8(ascii: "_") || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
                || ((byte | 0x20) >= UInt8(ascii: "a") && (byte | 0x20) <= UInt8(ascii: "z"))
        }
    }
}
