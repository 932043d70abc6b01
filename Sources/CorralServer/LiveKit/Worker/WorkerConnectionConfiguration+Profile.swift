import CorralCore
import CorralPlatform
import LiveKitWorkerProtocol
import CorralConfiguration

extension WorkerConnectionConfiguration {
    /// How the worker of `profile` connects and registers (its agent name and job type).
    init(profile: String, settings: LiveKitWorkerSettings, livekit: LiveKitConfiguration, version: String) throws(CorralError) {
        do {
            try self.init(
                livekitURL: livekit.url, apiKey: livekit.apiKey, apiSecret: livekit.apiSecret, agentName: settings.agentName,
                jobType: settings.jobType.protocolValue, version: version
            )
        } catch {
            throw CorralError(.configuration, "agents.\(profile).livekit_worker: livekit.url cannot be used: \(error)")
        }
    }
}
