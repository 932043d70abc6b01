/// What `corral serve` would do with a configuration, as `corral check` prints it: where it
/// listens, its store and data directory, the containment it would get here, and each agent
/// with the program that would run. Secrets are never in it: a token, key or secret is only
/// `set` or `not set`, an agent's environment only its names, command lines and URLs redacted as
/// the API redacts them for non-admins (`--api-key …`, `?token=…`, a URL's password).
public struct ConfigurationPlan: Sendable, Equatable, Encodable {
    public struct Authentication: Sendable, Equatable, Encodable {
        /// `set` or `not set` (`api_token` or `api_token_file`).
        public let apiToken: String
        public let tokens: [Token]
        public let allowUnauthenticated: Bool
    }

    public struct Token: Sendable, Equatable, Encodable {
        public let name: String
        public let role: String
    }

    public struct Store: Sendable, Equatable, Encodable {
        /// `sqlite`, `memory` or `redis`.
        public let kind: String
        /// The database file (SQLite).
        public let path: String?
        /// The server, never contacted by the check (Redis): `host:port`, and the database.
        public let address: String?
        public let database: Int?
        /// `set` or `not set` (Redis).
        public let password: String?
        /// Redis: `set` (`cluster_secret` or `cluster_secret_file`, shared by the nodes), or
        /// `this node's own` (made in the data directory: no other node is trusted).
        public let clusterSecret: String?
    }

    public struct Containment: Sendable, Equatable, Encodable {
        /// `containment` as configured.
        public let configured: String
        /// What a corral started now would get: `cgroup`, `process-group`, or `none` (it would
        /// not start).
        public let mode: String
        /// The cgroup root it would use (or that it could not use).
        public let cgroupRoot: String?
        public let detail: String
        /// How each kind of limit would be held: by which controller, watched, or not at all.
        public let limits: [String: String]
    }

    public struct Agent: Sendable, Equatable, Encodable {
        public let name: String
        public let command: [String]
        /// `command[0]` as corral would find it (an absolute path), if it would.
        public let executable: String?
        /// For a command that runs `env` (`/usr/bin/env python3 …`), the program env runs.
        public let envProgram: EnvProgram?
        /// The working directory; absent: corral's own.
        public let cwd: String?
        /// The names of the variables `env` adds; never their values.
        public let environment: [String]
        /// `exec` or `notify`.
        public let ready: String
        /// How long a `notify` (or prewarmed) agent has to say it is ready.
        public let startupTimeoutSeconds: Double
        public let memoryLimitMB: Int?
        public let pidsLimit: Int?
        public let cpuLimit: Double?
        public let prewarm: Int
        public let uid: UInt32?
        public let gid: UInt32?
        public let livekit: Bool
        public let livekitWorker: Worker?
        /// Sessions forked from a warm template (`template`).
        public let template: Template?
    }

    public struct Template: Sendable, Equatable, Encodable {
        /// Whether this host would fork them (cgroup containment); cold starts otherwise.
        public let forked: Bool
        public let memoryLimitMB: Int?
        /// The template's own, or `startup_timeout_seconds`.
        public let startupTimeoutSeconds: Double
        public let forkTimeoutSeconds: Double
        public let maxQueuedForks: Int
    }

    public struct EnvProgram: Sendable, Equatable, Encodable {
        /// As the command gives it.
        public let name: String
        /// As env would find it (an absolute path), if it would.
        public let path: String?
    }

    public struct Worker: Sendable, Equatable, Encodable {
        /// The LiveKit server it registers with (at `<url>/agent`).
        public let url: String
        public let agentName: String
        public let jobType: String
        public let maxJobs: Int
        public let load: String
        public let loadThreshold: Double
    }

    public struct LiveKit: Sendable, Equatable, Encodable {
        public let url: String
        /// `set`: the key, the secret and the tokens made with them are never shown.
        public let apiKey: String
        public let apiSecret: String
        /// Where LiveKit's webhooks are to be sent (`advertise_url` + `/api/livekit/webhook`).
        public let webhookURL: String
        public let autoDispatchAgent: String?
        public let sessionsPerRoom: Int
    }

    public let listen: String
    public let tls: Bool
    public let advertiseURL: String
    public let nodeID: String
    public let authentication: Authentication
    public let store: Store
    public let dataDir: String
    public let auditLog: String
    public let containment: Containment
    public let defaultAgent: String
    public let maxSessions: Int
    public let sessionTimeoutSeconds: Double
    public let maxSessionTimeoutSeconds: Double
    public let graceSeconds: Double
    public let shutdown: String
    public let agents: [Agent]
    public let livekit: LiveKit?
    public let eventsWebhookURL: String?
}
