import NIOSSL

/// How one worker connects and what it registers as. One per registered worker (in corral: per
/// profile with `livekit_worker`).
public struct WorkerConnectionConfiguration: Sendable {
    public var endpoint: WorkerEndpoint
    public var apiKey: String
    public var apiSecret: String
    /// What the worker registers as: agent name, job type, version, namespace, permissions.
    public var registration: Livekit_RegisterWorkerRequest
    /// How long a connection attempt has, from the start of its TCP connect to the server's answer
    /// to the registration (the TCP connect, the TLS handshake, the WebSocket upgrade and the
    /// registration together), before it is given up and tried again.
    public var registerTimeout: Duration = .seconds(10)
    public var backoff = ReconnectBackoff()
    /// WebSocket pings: one every interval, and the connection counts as lost when the pong has
    /// not come by the next one.
    public var pingInterval: Duration = .seconds(15)
    /// For `wss`; nil: the system's trust roots.
    public var tlsConfiguration: TLSConfiguration?
    /// The largest message accepted from the server (a job carries room and participant metadata).
    public var maxMessageSize = 1 << 20

    public init(
        livekitURL: String,
        apiKey: String,
        apiSecret: String,
        agentName: String,
        jobType: Livekit_JobType = .jtRoom,
        version: String = "",
        namespace: String? = nil,
        permissions: Livekit_ParticipantPermission? = nil
    ) throws(WorkerEndpoint.Failure) {
        endpoint = try WorkerEndpoint(livekitURL: livekitURL)
        self.apiKey = apiKey
        self.apiSecret = apiSecret
        var registration = Livekit_RegisterWorkerRequest()
        registration.agentName = agentName
        registration.type = jobType
        registration.version = version
        if let namespace { registration.namespace = namespace }
        if let permissions { registration.allowedPermissions = permissions }
        self.registration = registration
    }
}
