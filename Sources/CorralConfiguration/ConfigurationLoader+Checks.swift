import CorralPlatform
import CorralSecurity

extension ConfigurationLoader {
    /// What one key says about another, checked once every key is read and settled (keys are
    /// read in the order they are declared, not the file's: a key naming an agent profile is
    /// checked against the profiles `agents` defines, not the demo profile that stands in until
    /// `agents` is read). `given` holds the keys that were given, by path (`livekit.api_secret`),
    /// with the name a message uses for each.
    static func check(_ configuration: CorralConfiguration, given: [String: String]) throws(CorralError) {
        func label(_ path: String) -> String { given[path] ?? path }
        func isGiven(_ path: String) -> Bool { given[path] != nil }

        if configuration.sessionTimeoutSeconds > configuration.maxSessionTimeoutSeconds {
            throw configurationError(
                "\(label("session_timeout_seconds")): \(ConfigurationReference.json(configuration.sessionTimeoutSeconds)) is above "
                    + "max_session_timeout_seconds (\(ConfigurationReference.json(configuration.maxSessionTimeoutSeconds)))"
            )
        }
        if isGiven("api_token"), isGiven("api_token_file") {
            throw configurationError("\(label("api_token_file")): set either api_token or api_token_file, not both")
        }
        if isGiven("cluster_secret"), isGiven("cluster_secret_file") {
            throw configurationError("\(label("cluster_secret_file")): set either cluster_secret or cluster_secret_file, not both")
        }
        if isGiven("cluster_secret_file"), let secret = configuration.clusterSecret, !secret.isEmpty, secret.utf8.count < ClusterSecret.minimumLength {
            throw configurationError("\(label("cluster_secret_file")): the secret must be at least \(ClusterSecret.minimumLength) characters")
        }
        // The key first, as a finding takes it apart from the message (`corral check` redacts
        // the message only: `tls_key_file: set both` lost `set`).
        switch (isGiven("tls_cert_file"), isGiven("tls_key_file")) {
        case (true, false): throw configurationError("tls_key_file: required with tls_cert_file (set both, or neither)")
        case (false, true): throw configurationError("tls_cert_file: required with tls_key_file (set both, or neither)")
        default: break
        }
        if configuration.livekit != nil {
            switch (isGiven("livekit.api_secret"), isGiven("livekit.api_secret_file")) {
            case (true, true): throw configurationError("\(label("livekit")): set api_secret or api_secret_file, not both")
            case (false, false): throw configurationError("\(label("livekit")): api_secret or api_secret_file is required")
            default: break
            }
        }
        try checkProfiles(configuration, label: label)
        if let socket = configuration.notifySocketPath, socket.utf8.count > NotifySocket.maximumPathLength {
            let user = configuration.agents.keys.sorted().first { configuration.agents[$0]!.usesNotifySocket } ?? ""
            throw configurationError(
                "\(label("data_dir")): \(configuration.dataDirectory) is too long for the notify socket in it, which agents.\(user) uses "
                    + "(ready: notify, or prewarm): \(socket) is \(socket.utf8.count) bytes, and a Unix socket's path has at most "
                    + "\(NotifySocket.maximumPathLength); choose a shorter data_dir"
            )
        }
    }

    /// Keys that name an agent profile, and what profiles need of other keys.
    private static func checkProfiles(_ configuration: CorralConfiguration, label: (String) -> String) throws(CorralError) {
        let livekitKey = label("livekit")
        let profiles = configuration.agents.keys.sorted().joined(separator: ", ")
        if let agent = configuration.livekit?.autoDispatchAgent, configuration.agents[agent] == nil {
            throw configurationError("\(livekitKey).auto_dispatch_agent: '\(agent)' is not one of the agent profiles (\(profiles))")
        }
        if configuration.livekit == nil, let name = configuration.agents.keys.sorted().first(where: { configuration.agents[$0]!.livekit }) {
            throw configurationError("\(label("agents.\(name).livekit")): a LiveKit agent needs the livekit configuration (url, api_key, api_secret)")
        }
        if configuration.livekit == nil, let name = configuration.agents.keys.sorted().first(where: { configuration.agents[$0]!.livekitWorker != nil }) {
            throw configurationError(
                "\(label("agents.\(name).livekit_worker")): a LiveKit agent worker needs the livekit configuration (url, api_key, api_secret)"
            )
        }
        var workers: [String: String] = [:]
        for name in configuration.agents.keys.sorted() {
            guard let worker = configuration.agents[name]!.livekitWorker else { continue }
            let registration = "\(worker.agentName)/\(worker.jobType.rawValue)"
            if let other = workers[registration] {
                throw configurationError(
                    "agents.\(name).livekit_worker: profiles '\(other)' and '\(name)' would both register for agent_name "
                        + "'\(worker.agentName)' (\(worker.jobType.rawValue) jobs); give each its own agent_name"
                )
            }
            workers[registration] = name
        }
        let idle = configuration.agents.values.reduce(0) { $0 + $1.prewarm }
        if idle > configuration.maxSessions {
            throw configurationError(
                "agents: \(idle) prewarmed idle agents do not fit in max_sessions (\(configuration.maxSessions)); idle agents count toward it"
            )
        }
        guard configuration.agents[configuration.defaultAgent] != nil else {
            throw configurationError("\(label("default_agent")): '\(configuration.defaultAgent)' is not one of the agent profiles (\(profiles))")
        }
    }
}
