import CorralCore
import Foundation
import LiveKitWorkerProtocol
import Logging
import CorralConfiguration

/// `corral doctor`'s LiveKit check: connects to `<url>/agent` as a profile's worker would, and
/// says whether LiveKit accepted the registration or refused it (401: a wrong key or secret).
/// It declines every job it is offered meanwhile and closes at once.
public enum LiveKitProbe {
    public struct Result: Sendable, Codable {
        public let profile: String
        public let agentName: String
        public let url: String
        public let registered: Bool
        /// The worker id LiveKit gave, or why it did not register.
        public let detail: String
    }

    public static func check(_ configuration: CorralConfiguration, timeout: Duration = .seconds(10)) async -> [Result] {
        guard let livekit = configuration.livekit else { return [] }
        var results: [Result] = []
        for name in configuration.agents.keys.sorted() {
            guard let settings = configuration.agents[name]?.livekitWorker else { continue }
            results.append(await check(profile: name, settings: settings, livekit: livekit, timeout: timeout))
        }
        return results
    }

    static func check(profile: String, settings: LiveKitWorkerSettings, livekit: LiveKitConfiguration, timeout: Duration) async -> Result {
        func result(_ registered: Bool, _ detail: String) -> Result {
            Result(profile: profile, agentName: settings.agentName, url: livekit.url, registered: registered, detail: detail)
        }
        let configuration: WorkerConnectionConfiguration
        do {
            configuration = try WorkerConnectionConfiguration(profile: profile, settings: settings, livekit: livekit, version: "corral doctor")
        } catch {
            return result(false, error.message)
        }
        var logger = Logger(label: "corral-doctor")
        logger.logLevel = .critical
        let connection = WorkerConnection(configuration: configuration, delegate: Decliner(), logger: logger)
        let running = Task { await connection.run() }
        defer { running.cancel() }
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let state = await connection.state
            if state.connected, let id = state.workerID { return result(true, "registered as \(id)") }
            if state.failures > 0, let error = state.lastError { return result(false, error) }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return result(false, "no registration answer within \(timeout)")
    }

    /// Takes no job.
    private struct Decliner: WorkerConnectionDelegate {
        func registered(workerID: String, serverInfo: Livekit_ServerInfo) async -> [String] { [] }
        func availability(_ request: Livekit_AvailabilityRequest) async -> Livekit_AvailabilityResponse {
            var response = Livekit_AvailabilityResponse()
            response.jobID = request.job.id
            return response
        }
        func assignment(_ assignment: Livekit_JobAssignment) async {}
        func termination(jobID: String) async {}
        func disconnected(reason: String) async {}
    }
}
