extension ConfigurationLoader {
    /// What one key says about another's value, checked once every key is read: keys are read in
    /// a fixed order that is not the file's, so a key naming an agent profile is checked against
    /// the profiles `agents` defines, not the demo profile that stands in until `agents` is read.
    static func checkReferences(_ configuration: CorralConfiguration, livekitKey: String) throws(CorralError) {
        let profiles = configuration.agents.keys.sorted().joined(separator: ", ")
        if let agent = configuration.livekit?.autoDispatchAgent, configuration.agents[agent] == nil {
            throw configurationError("\(livekitKey).auto_dispatch_agent: '\(agent)' is not one of the agent profiles (\(profiles))")
        }
        if configuration.livekit == nil, let name = configuration.agents.first(where: { $0.value.livekit })?.key {
            throw configurationError("agents.\(name).livekit: a LiveKit agent needs the livekit configuration (url, api_key, api_secret)")
        }
        let idle = configuration.agents.values.reduce(0) { $0 + $1.prewarm }
        if idle > configuration.maxSessions {
            throw configurationError("agents: \(idle) prewarmed idle agents do not fit in max_sessions (\(configuration.maxSessions)); idle agents count toward it")
        }
        guard configuration.agents[configuration.defaultAgent] != nil else {
            throw configurationError("default_agent: '\(configuration.defaultAgent)' is not one of the agent profiles (\(profiles))")
        }
    }
}
