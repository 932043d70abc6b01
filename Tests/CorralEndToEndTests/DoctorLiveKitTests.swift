import CorralTestSupport
import Foundation
import Testing

/// `corral doctor` registers each LiveKit worker profile with the LiveKit server once, and says
/// whether it was accepted or refused (a wrong secret: 401).
@Suite("corral doctor: LiveKit workers", .enabled(if: livekitAgentsPython != nil, "\(livekitAgentsSkipped)"))
struct DoctorLiveKitTests {
    static func config(_ server: LiveKitTestServer, secret: String, directory: String) throws -> String {
        let config: [String: Any] = [
            "data_dir": directory + "/data",
            "containment": "process-group",
            "livekit": ["url": server.url, "api_key": server.apiKey, "api_secret": secret],
            "default_agent": "worker",
            "agents": ["worker": ["command": ["/bin/true"], "livekit_worker": ["agent_name": "doctor-check"]]],
        ]
        let path = directory + "/corral.json"
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test func reportsARegistrationAndARefusal() async throws {
        let directory = NSTemporaryDirectory() + "corral-doctor-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let server = try await LiveKitTestServer().start()
        do {
            let good = try await CommandRunner.run(CorralProcess.executable, ["doctor", "--config", try Self.config(server, secret: server.apiSecret, directory: directory)])
            #expect(good.output.contains("LiveKit worker of profile worker (agent_name 'doctor-check')"), "\(good.output)")
            #expect(good.output.contains("OK, registered as AW_"), "\(good.output)\(good.errors)")
            let wrong = try await CommandRunner.run(CorralProcess.executable, ["doctor", "--config", try Self.config(server, secret: "not-the-secret-at-all-0123456789", directory: directory)])
            #expect(wrong.status == 1)
            #expect(wrong.output.contains("FAILED") && wrong.output.contains("401"), "\(wrong.output)")
        } catch {
            await server.remove()
            throw error
        }
        await server.remove()
    }
}
