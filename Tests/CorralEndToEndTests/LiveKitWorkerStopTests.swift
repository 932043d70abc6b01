import CorralCore
import CorralTestSupport
import Foundation
import Testing

/// corral stopped (SIGTERM) while its LiveKit worker waits on a server that took the connection
/// and never answers the WebSocket upgrade (`MuteListener`): the stop cuts the connection, and
/// corral exits without waiting for the attempt's deadline.
@Suite("LiveKit worker: stopping corral while LiveKit does not answer")
struct LiveKitWorkerStopTests {
    @Test func sigtermWhileTheUpgradeIsUnansweredDoesNotWaitForIt() async throws {
        try await MuteListener.with { listener in
            try await CrashTestBed.run(containment: testedModes.first!) { bed in
                bed.config["livekit"] = ["url": listener.url, "api_key": "APIcorraltest", "api_secret": "corral-test-secret-0123456789-0123456789"]
                var agents = bed.config["agents"] as? [String: Any] ?? [:]
                agents["voice"] = ["command": ["sleep", "1000"], "env": ["CORRAL_TEST_RUN": bed.tag], "livekit_worker": ["agent_name": "voice"]]
                bed.config["agents"] = agents
                let corral = try await bed.startCorral()
                let asked = await ProcessProbe.waitUntil(timeout: .seconds(60)) { listener.receivedText.contains("GET /agent HTTP/1.1") }
                try #require(asked, "corral's worker did not ask for the upgrade: \(corral.log.suffix(2000))")

                let logged = corral.log.count
                let status = await corral.terminate(timeout: .seconds(30))
                #expect(status == 0, "corral did not exit within 30 s of SIGTERM: \(corral.log.suffix(2000))")
                if status == nil { await corral.kill() }
                bed.corral = nil
                // It did not wait for the attempt's deadline (10 s): none was given up on after
                // the SIGTERM, and the connection is closed.
                let afterwards = String(corral.log.dropFirst(logged))
                #expect(!afterwards.contains("did not answer the WebSocket upgrade"), "\(afterwards.suffix(2000))")
                #expect(afterwards.contains("stopped the LiveKit worker connection"), "\(afterwards.suffix(2000))")
                #expect(await ProcessProbe.waitUntil(timeout: .seconds(30)) { listener.open == 0 })
            }
        }
    }
}
