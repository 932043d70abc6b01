import CorralPlatform
import CorralSecurity
import Foundation
import Logging

/// Everything `corral serve` runs with. Defaults are the embedded ones: a demo agent, an SQLite
/// store in `corral-data/` under the working directory. `ConfigurationLoader` builds it from a
/// JSON file and the environment; the key that sets each field is declared with it in
/// `ConfigurationLoader.keys`, and a field's value here is that key's default.
public struct CorralConfiguration: Sendable {
    public struct ListenAddress: Sendable, Equatable, CustomStringConvertible {
        public var host: String
        public var port: Int

        public init(host: String, port: Int) {
            self.host = host
            self.port = port
        }

        public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
    }

    /// Which containment sessions get.
    public enum ContainmentMode: String, Sendable, Equatable, CaseIterable {
        /// A cgroup per session where the host allows it, else process groups (logged).
        case auto
        /// A cgroup per session, spawned straight into it; start-up fails without cgroups.
        case cgroup
        /// A cgroup per session, entered before exec (the fallback mode, forced).
        case cgroupAttach = "cgroup-attach"
        /// Process groups and escape tracking only.
        case processGroup = "process-group"
        /// A pid namespace per session (in a user namespace where corral needs one); start-up
        /// fails where none can be made.
        case pidNamespace = "pid-namespace"
    }

    /// What stopping corral does to running sessions.
    public enum ShutdownMode: String, Sendable, Equatable, CaseIterable {
        /// End every session, as DELETE would, then exit.
        case terminate
        /// Refuse new sessions, wait up to `drain_timeout_seconds` for the rest to end, then
        /// terminate what is left.
        case drain
        /// Exit leaving sessions running for the next corral to adopt.
        case detach
    }

    public enum StoreLocation: Sendable, Equatable {
        /// A path; relative paths are inside the data directory.
        case sqlite(path: String)
        case memory
        /// `redis://[:password@]host:port[/db]`.
        case redis(url: String)
    }

    public var listen = ListenAddress(host: "127.0.0.1", port: 8080)
    /// This node's name in a cluster (the host name by default); every record carries it.
    public var nodeID = CorralConfiguration.hostName
    /// How other nodes reach this one (forwarded DELETE, inspection, starts); nil: derived from
    /// `listen`.
    public var advertiseURL: String?
    /// How often a node says it is alive (with Redis); three missed beats and it is lost.
    public var heartbeatIntervalSeconds: Double = 2
    /// The secret every node sharing a Redis holds (`cluster_secret`, or read from
    /// `cluster_secret_file`); nil: a node alone makes its own (`ClusterSecret`).
    public var clusterSecret: String?

    public static var hostName: String {
        let name = Syscall.hostName
        return name.isEmpty ? "corral" : name
    }

    /// LiveKit: where agents connect, and the key pair that signs their tokens and LiveKit's
    /// webhooks.
    public var livekit: LiveKitConfiguration?

    /// The URL other nodes use for this one.
    public var resolvedAdvertiseURL: String {
        if let advertiseURL { return advertiseURL }
        let scheme = tlsCertificateFile == nil ? "http" : "https"
        let host = ["0.0.0.0", "::", ""].contains(listen.host) ? CorralConfiguration.hostName : listen.host
        return "\(scheme)://\(host.contains(":") ? "[\(host)]" : host):\(listen.port)"
    }
    public var store = StoreLocation.sqlite(path: "corral.db")
    /// Session logs, the instance id and (by default) the database live here.
    public var dataDirectory = "corral-data"
    public var sessionTimeoutSeconds: Double = 14_400
    /// Upper bound for a session's `timeout_seconds`.
    public var maxSessionTimeoutSeconds: Double = 86_400
    public var graceSeconds: Double = 2
    public var startupTimeoutSeconds: Double = 30
    /// How long a prewarmed agent has to acknowledge the session it is handed.
    public var assignTimeoutSeconds: Double = 2
    /// The single admin token (`api_token`, or read from `api_token_file`).
    public var apiToken: String?
    /// Named tokens with roles; only their SHA-256 is known.
    public var tokens: [AccessToken] = []
    /// nil: `audit.log` in the data directory.
    public var auditLogPath: String?
    public var auditLogMaxBytes: UInt64 = 10 * 1024 * 1024
    /// Names of secrets to hide from non-admin callers.
    public var redactPatterns = Redactor.defaultPatterns
    /// Requests served at once; past it, 503 with Retry-After.
    public var maxConcurrentRequests = 256
    /// Connections open at once; past it the one idle longest is closed for room, or new ones
    /// wait in the kernel's listen queue.
    public var maxConnections = 1024
    /// Event streams and followed logs open at once per token; past it, 429.
    public var maxStreamsPerToken = 16
    /// Session starts per second allowed per token (bursts of twice that); past it, 429.
    public var sessionStartsPerSecond: Double = 50
    /// A connection with nothing to read or write for this long is closed (slow clients).
    public var idleTimeoutSeconds: Double = 60
    /// A request's headers and body must arrive within this of its first byte (slow clients
    /// that keep sending a byte now and then); past it, 408.
    public var requestTimeoutSeconds: Double = 30
    public var tlsCertificateFile: String?
    public var tlsKeyFile: String?

    /// Whether callers must present a token.
    public var requiresAuthentication: Bool { apiToken != nil || !tokens.isEmpty }
    /// Host names answered without a token, besides loopback, `listen` and `advertise_url`.
    public var allowedHosts: [String] = []
    /// Lets `corral serve` listen on a non-loopback address without any token.
    public var allowUnauthenticated = false

    public var resolvedAuditLogPath: String { auditLogPath ?? dataDirectory + "/audit.log" }
    public var defaultAgent = DemoAgent.profileName
    public var agents: [String: AgentProfile] = [:]
    public var maxSessions = 1000
    public var sweepIntervalSeconds: Double = 60
    public var containment = ContainmentMode.auto
    /// corral's parent cgroup; nil for `corral` next to corral's own cgroup in the v2 hierarchy.
    public var cgroupRoot: String?
    /// With pid-namespace containment: whether sessions also get a user namespace.
    public var userNamespace = UserNamespaceMode.auto
    /// How often session limits are checked and escaped processes recorded.
    public var watchIntervalSeconds: Double = 2
    public var shutdown = ShutdownMode.terminate
    /// A session log over this size is rotated (one old copy kept); 0 for no cap.
    public var logMaxBytes: UInt64 = 10 * 1024 * 1024
    /// Logs of ended sessions are removed this long after their last write.
    public var logRetentionSeconds: Double = 7 * 24 * 3600
    /// `text` or `json` (one JSON object per line) for corral's own log.
    public var logFormat = LogFormat.text
    /// Where session events are POSTed, if anywhere.
    public var eventsWebhookURL: String?

    public enum LogFormat: String, Sendable, Equatable, CaseIterable {
        case text
        case json
    }
    public var drainTimeoutSeconds: Double = 300
    public var logLevel = Logger.Level.info

    /// The embedded defaults, with the demo agent stored under `dataDirectory`.
    public init() {
        agents = [DemoAgent.profileName: DemoAgent.profile(dataDirectory: dataDirectory)]
    }

    /// corral's notify socket in the data directory, where a profile's agents use it; nil where
    /// none does (corral then binds none).
    public var notifySocketPath: String? {
        agents.values.contains(where: \.usesNotifySocket) ? NotifySocket.path(inDataDirectory: dataDirectory) : nil
    }

    /// The SQLite path with relative paths resolved inside the data directory.
    public var resolvedStorePath: String? {
        guard case .sqlite(let path) = store else { return nil }
        return path.hasPrefix("/") ? path : dataDirectory + "/" + path
    }
}

/// `livekit` in the configuration.
public struct LiveKitConfiguration: Sendable, Equatable {
    /// `wss://…` (or `ws://`), given to agents as `LIVEKIT_URL`.
    public var url: String
    public var apiKey: String
    /// Never logged, never shown, never given to an agent.
    public var apiSecret: String
    /// A profile started for every room LiveKit reports started (`room_started`), or nil.
    public var autoDispatchAgent: String?
    /// Sessions of one profile a room may have at once.
    public var sessionsPerRoom = 1
    /// How long an agent's token stays valid past its session's deadline.
    public var tokenMarginSeconds: Double = 600

    public init(url: String, apiKey: String, apiSecret: String) {
        self.url = url
        self.apiKey = apiKey
        self.apiSecret = apiSecret
    }
}
