import CorralSecurity
import Logging

extension ConfigurationLoader {
    /// Every top-level key, in the order they are read (and settled: `data_dir` before the keys
    /// whose values depend on it, `agents` before `default_agent`). Each is also read from the
    /// environment variable `CORRAL_<KEY>`. The table of keys in docs/configuration.md is made from
    /// these declarations (`ConfigurationReference`).
    static let keys = ConfigurationObject<CorralConfiguration, CorralConfiguration>(
        CorralConfiguration(), keys: serving + sessions + agentKeys + logging + security + limits
    )

    typealias Key = ConfigurationKey<CorralConfiguration, CorralConfiguration>

    private static let serving: [Key] = [
        .key(
            "listen", .listenAddress, \.listen,
            doc: "where the API listens (`[::1]:PORT` for IPv6); anything but loopback needs a token (see [security](security.md#without-a-token))"
        ),
        .key(
            "store", .storeLocation, \.store,
            doc: "the session store: SQLite (a path relative to `data_dir`), in memory, or Redis "
                + "(`redis://[:password@]host[:port][/db]`, port 6379 unless given, for several nodes)"
        ),
        .key(
            "data_dir", .path, \.dataDirectory, settle: { directory, settling in directory = settling.absolute(directory) },
            doc: "session logs (`logs/`, files 0600), the lock that keeps a second corral off the same state, the instance id, the "
                + "notify socket and the database; made 0711 (agents of another `user` pass through to the notify socket; nobody else may "
                + "list it, and what is in it is closed to others); a relative path is inside the working directory"
        ),
        .key(
            "node_id", .string, \.nodeID, orNull: true, default: .described("the host name"),
            check: { node in
                node.isEmpty || node.utf8.count > 128 || !node.allSatisfy({ $0.isLetter || $0.isNumber || "._-".contains($0) })
                    ? "1 to 128 letters, digits, '.', '_' or '-'" : nil
            },
            doc: "this node's name in a cluster; every record carries it"
        ),
        .key(
            "advertise_url",
            .url(["http", "https"], expected: "expected http(s)://host:port").map(show: { ConfigurationReference.json($0) }) { url, _ in
                url.hasSuffix("/") ? String(url.dropLast()) : url
            },
            \.advertiseURL,
            doc: "the URL other nodes reach this one at (null: made from `listen`)"
        ),
        .key(
            "heartbeat_interval_seconds", .interval, \.heartbeatIntervalSeconds,
            doc: "how often this node says it is alive (with Redis); three missed beats and it is lost"
        ),
        .key(
            "cluster_secret", .string, \.clusterSecret,
            check: { secret in
                secret.utf8.count < ClusterSecret.minimumLength ? "must be at least \(ClusterSecret.minimumLength) characters" : nil
            },
            doc: "with Redis, the secret every node shares and Redis never holds: it signs the records in Redis and the requests "
                + "nodes pass on to each other (null: a secret of this node's own in `data_dir/cluster-secret`; see [several nodes](cluster.md))"
        ),
        .key(
            "cluster_secret_file", .secretFile, \.clusterSecret,
            doc: "a file holding `cluster_secret`, instead of the key (at least 32 characters)"
        ),
    ]

    private static let sessions: [Key] = [
        .key(
            "session_timeout_seconds", .positive, \.sessionTimeoutSeconds, aliases: ["SESSION_TIMEOUT"],
            doc: "a session's default lifetime; a request may ask for `timeout_seconds` up to `max_session_timeout_seconds`"
        ),
        .key("max_session_timeout_seconds", .positive, \.maxSessionTimeoutSeconds, doc: "the longest lifetime a request may ask for"),
        .key("grace_seconds", .seconds, \.graceSeconds, doc: "time between SIGTERM and SIGKILL when a session ends"),
        .key("startup_timeout_seconds", .positive, \.startupTimeoutSeconds, doc: "how long a `ready: notify` agent has to send `READY=1`"),
        .key(
            "assign_timeout_seconds", .positive, \.assignTimeoutSeconds,
            doc: "how long a prewarmed agent has to acknowledge the session it is handed (see [prewarmed agents](prewarm.md))"
        ),
        .key("max_sessions", .integer(minimum: 1), \.maxSessions, doc: "sessions beyond this get 503; prewarmed idle agents count toward it"),
        .key("sweep_interval_seconds", .interval, \.sweepIntervalSeconds, doc: "how often the sweeper looks for expired sessions and stale records"),
        .key(
            "containment", .oneOf(), \.containment,
            doc: "`auto` (a cgroup per session where the host allows it, else a pid namespace per session where one can be made, else "
                + "process groups; logged), `cgroup`, `cgroup-attach` (the fallback way into the cgroup, forced), `pid-namespace` or "
                + "`process-group`; a forced mode that the host cannot provide stops start-up"
        ),
        .key(
            "user_namespace", .oneOf(), \.userNamespace,
            doc: "with `pid-namespace` containment: `auto` (a user namespace around each session's pid namespace only where corral "
                + "lacks CAP_SYS_ADMIN), `always` (also where it has it: agents running as root then hold no capability outside their "
                + "namespaces) or `never`; ids map to themselves (see docs/containers.md)"
        ),
        .key(
            "cgroup_root", .string, \.cgroupRoot,
            check: { root in
                root.hasPrefix("/") && !root.split(separator: "/").contains("..") ? nil : "expected an absolute path in the cgroup v2 hierarchy"
            },
            doc: "corral's parent cgroup in the v2 hierarchy (null: `corral` next to corral's own cgroup, e.g. `/sys/fs/cgroup/unified/corral`); "
                + "one corral per root"
        ),
        .key(
            "watch_interval_seconds", .interval, \.watchIntervalSeconds,
            doc: "how often limits and log sizes are checked (and, with process groups, escaped processes recorded)"
        ),
        .key(
            "shutdown", .oneOf(), \.shutdown,
            doc: "what SIGTERM/SIGINT does to running sessions: `terminate` (end them all, as DELETE would, then exit), `drain` (refuse new "
                + "sessions with 503, keep serving, wait up to `drain_timeout_seconds` for sessions to end, then end the rest), `detach` (exit "
                + "and leave them running for the next corral to re-adopt: zero-downtime upgrades)"
        ),
        .key("drain_timeout_seconds", .seconds, \.drainTimeoutSeconds, doc: "how long `drain` waits"),
    ]

    private static let agentKeys: [Key] = [
        .key(
            "agents", .map(of: .object(AgentProfile.keys, "an agent profile"), "an object of agent profiles"), \.agents,
            default: .derived("the demo agent, `demo`") { [DemoAgent.profileName: DemoAgent.profile(dataDirectory: $0.dataDirectory)] },
            check: { agents in
                if agents.isEmpty { return "at least one agent profile is needed" }
                // No request can name it: an empty `agent` is refused (400).
                if agents.keys.contains("") { return "an agent profile's name cannot be empty" }
                // A name is shown in tables, log lines and metrics' labels: a newline broke the
                // rows of `corral sessions`.
                let controlled = agents.keys.sorted().first { $0.unicodeScalars.contains { $0.properties.generalCategory == .control } }
                return controlled.map { "the agent profile name \($0.debugDescription) holds a control character (a newline, a tab); name it with printable characters" }
            },
            doc: "the agent profiles, by name"
        ),
        .key(
            "default_agent", .string, \.defaultAgent,
            default: .derived("`demo`, or the only profile in `agents`") { root in
                root.agents[root.defaultAgent] == nil && root.agents.count == 1 ? root.agents.keys.first! : root.defaultAgent
            },
            doc: "the profile a session gets when its request names none"
        ),
        .key(
            "livekit", .object(LiveKitConfiguration.keys, "an object"), \.livekit,
            doc: "LiveKit: where agents connect, and the key pair that signs their tokens and LiveKit's webhooks (see [LiveKit](livekit.md))"
        ),
    ]

    private static let logging: [Key] = [
        .key("log_level", .oneOf(lowercased: true), \.logLevel, doc: "corral's own log level"),
        .key("log_format", .oneOf(), \.logFormat, doc: "`text`, or `json` (one JSON object per line) for corral's own log"),
        .key("log_max_bytes", .bytes, \.logMaxBytes, doc: "a session log over this size is rotated at the next `watch_interval_seconds`, its last `log_max_bytes` kept as the one older copy (0: no cap)"),
        .key("log_retention_seconds", .positive, \.logRetentionSeconds, doc: "logs of ended sessions are removed this long after their last write"),
        .key(
            "events_webhook_url", .url(["http", "https"], expected: "expected an http:// or https:// URL"), \.eventsWebhookURL,
            doc: "where session events are POSTed (a `user:password@` in it is sent as `Authorization: Basic`)"
        ),
    ]

    private static let security: [Key] = [
        .key(
            "api_token", .string, \.apiToken, check: { $0.isEmpty ? "must not be empty (use null for no token)" : nil },
            doc: "if set, every `/api/*` request needs `Authorization: Bearer <token>`; if no token is set, see [security](security.md#without-a-token)"
        ),
        .key("api_token_file", .secretFile, \.apiToken, doc: "a file holding the admin token, instead of `api_token` (see [security](security.md#authentication-and-roles))"),
        .key("tokens", AccessToken.list, \.tokens, check: AccessToken.duplicateName, doc: "named tokens with roles (see [security](security.md#authentication-and-roles))"),
        .key(
            "audit_log", .path, \.auditLogPath,
            settle: { path, settling in path = path.map { $0.hasPrefix("/") ? $0 : settling.root.dataDirectory + "/" + $0 } },
            doc: "the audit log, relative to `data_dir` (null: `audit.log` there)"
        ),
        .key("audit_log_max_bytes", .bytes, \.auditLogMaxBytes, doc: "the audit log's rotation size"),
        .key(
            "redact_patterns", .array(of: .nonEmptyString, "an array of name patterns"), \.redactPatterns,
            doc: "names of secrets hidden from non-admins; `*` matches any run of characters"
        ),
        .key(
            "allowed_hosts", .array(of: .hostName, "an array of host names"), \.allowedHosts, orNull: true,
            doc: "without a token, more host names corral answers for (besides loopback, `listen` and `advertise_url`), e.g. `[\"corral.internal\"]`"
        ),
        .key(
            "allow_unauthenticated", .boolean, \.allowUnauthenticated, orNull: true,
            doc: "`true` lets `corral serve` listen on a non-loopback address without any token (`false`: it refuses to start)"
        ),
        .key("tls_cert_file", .readableFile, \.tlsCertificateFile, doc: "serve HTTPS with this PEM certificate (with `tls_key_file`)"),
        .key("tls_key_file", .readableFile, \.tlsKeyFile, doc: "the PEM key of `tls_cert_file`"),
    ]

    private static let limits: [Key] = [
        .key(
            "max_connections", .integer(minimum: 1, maximum: 1_000_000), \.maxConnections,
            doc: "connections open at once (before any authentication); past it, those idle longest are closed for room (never one with a request under way), and with none idle new ones wait in the kernel's listen queue until one closes"
        ),
        .key(
            "max_concurrent_requests", .integer(minimum: 1), \.maxConcurrentRequests,
            doc: "requests served at once; past it, 503 with Retry-After (see [security](security.md#limits))"
        ),
        .key(
            "max_streams_per_token", .integer(minimum: 1), \.maxStreamsPerToken,
            doc: "event streams and followed logs open at once per token; past it, 429"
        ),
        .key(
            "session_starts_per_second", .number(minimum: 0, exclusive: true, maximum: 1_000_000), \.sessionStartsPerSecond,
            doc: "session starts per second allowed per token (bursts of twice that); past it, 429"
        ),
        .key("idle_timeout_seconds", .positive, \.idleTimeoutSeconds, doc: "a connection with nothing to read or write for this long is closed"),
        .key(
            "request_timeout_seconds", .positive, \.requestTimeoutSeconds,
            doc: "a request's headers and body must arrive within this of its first byte; past it, 408"
        ),
    ]
}
