import CorralSecurity
import RedisClient
import CorralConfiguration

extension ConfigurationPlan {
    /// The plan of a loaded configuration, with its agents' commands as they were found
    /// (`agents`, by profile) and the containment this host would give; command lines and URLs
    /// redacted by `redactor`.
    init(_ configuration: CorralConfiguration, agents: [String: AgentResolution], containment: Containment, redactor: Redactor) {
        let secret = { (value: String?) in value == nil ? "not set" : "set" }
        let url = { (text: String) in redactor.text(text) }
        listen = configuration.listen.description
        tls = configuration.tlsCertificateFile != nil
        advertiseURL = url(configuration.resolvedAdvertiseURL)
        nodeID = configuration.nodeID
        authentication = Authentication(
            apiToken: secret(configuration.apiToken),
            tokens: configuration.tokens.map { Token(name: $0.name, role: $0.role.rawValue) },
            allowUnauthenticated: configuration.allowUnauthenticated
        )
        store = Self.store(configuration, redactor: redactor)
        dataDir = configuration.dataDirectory
        auditLog = configuration.resolvedAuditLogPath
        self.containment = containment
        defaultAgent = configuration.defaultAgent
        maxSessions = configuration.maxSessions
        sessionTimeoutSeconds = configuration.sessionTimeoutSeconds
        maxSessionTimeoutSeconds = configuration.maxSessionTimeoutSeconds
        graceSeconds = configuration.graceSeconds
        shutdown = configuration.shutdown.rawValue
        self.agents = configuration.agents.keys.sorted().map { name in
            let profile = configuration.agents[name]!
            let resolution = agents[name]
            return Agent(
                name: name,
                command: redactor.arguments(profile.command),
                executable: resolution?.executable,
                envProgram: resolution?.envProgram,
                cwd: profile.workingDirectory.map(redactor.text),
                environment: profile.environment.keys.sorted(),
                ready: profile.readiness.rawValue,
                startupTimeoutSeconds: configuration.startupTimeoutSeconds,
                memoryLimitMB: profile.memoryLimitMB,
                pidsLimit: profile.pidsLimit,
                cpuLimit: profile.cpuLimit,
                prewarm: profile.prewarm,
                uid: profile.user?.uid,
                gid: profile.user?.gid,
                livekit: profile.livekit,
                livekitWorker: profile.livekitWorker.flatMap { worker in
                    configuration.livekit.map { livekit in
                        Worker(
                            url: url(livekit.url), agentName: worker.agentName, jobType: worker.jobType.rawValue,
                            maxJobs: worker.maxJobs, load: worker.load.rawValue, loadThreshold: worker.loadThreshold
                        )
                    }
                },
                template: profile.template.map { template in
                    Template(
                        forked: containment.mode == "cgroup", memoryLimitMB: template.memoryLimitMB,
                        startupTimeoutSeconds: template.startupTimeoutSeconds ?? configuration.startupTimeoutSeconds,
                        forkTimeoutSeconds: template.forkTimeoutSeconds, maxQueuedForks: template.maxQueuedForks
                    )
                }
            )
        }
        livekit = configuration.livekit.map { livekit in
            LiveKit(
                url: url(livekit.url),
                apiKey: secret(livekit.apiKey),
                apiSecret: secret(livekit.apiSecret),
                webhookURL: url(configuration.resolvedAdvertiseURL + "/api/livekit/webhook"),
                autoDispatchAgent: livekit.autoDispatchAgent,
                sessionsPerRoom: livekit.sessionsPerRoom
            )
        }
        eventsWebhookURL = configuration.eventsWebhookURL.map(url)
    }

    /// The store, a Redis server by its address only (it is not contacted, its name not even
    /// looked up).
    private static func store(_ configuration: CorralConfiguration, redactor: Redactor) -> Store {
        switch configuration.store {
        case .memory:
            return Store(kind: "memory", path: nil, address: nil, database: nil, password: nil, clusterSecret: nil)
        case .sqlite:
            return Store(kind: "sqlite", path: configuration.resolvedStorePath, address: nil, database: nil, password: nil, clusterSecret: nil)
        case .redis(let url):
            let parsed = try? RedisURL(parsing: url)
            let address = parsed.map { $0.host.contains(":") ? "[\($0.host)]:\($0.port)" : "\($0.host):\($0.port)" }
            return Store(
                kind: "redis", path: nil, address: address ?? redactor.text(url), database: parsed?.database,
                password: parsed?.password == nil ? "not set" : "set",
                clusterSecret: configuration.clusterSecret == nil ? "this node's own" : "set"
            )
        }
    }
}
