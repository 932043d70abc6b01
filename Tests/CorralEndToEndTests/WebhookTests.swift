import CorralCore
import CorralTestSupport
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Collects what the webhook receives; fails the first delivery to make corral retry.
private actor Receiver {
    var bodies: [[String: Any]] = []
    var failedOnce = false
    var authorizations: Set<String> = []

    func authorized(_ value: String?) { authorizations.insert(value ?? "none") }

    func receive(_ bytes: [UInt8]) -> Bool {
        guard failedOnce else {
            failedOnce = true
            return false
        }
        if let event = (try? JSONSerialization.jsonObject(with: Data(bytes))) as? [String: Any] { bodies.append(event) }
        return true
    }

    var types: [String] { bodies.compactMap { $0["type"] as? String } }
    var sessionIDs: Set<String> { Set(bodies.compactMap { $0["session_id"] as? String }) }
}

@Suite("Webhook and followed logs")
struct WebhookTests {
    @Test func webhookGetsEveryEventInOrderDespiteAFailure() async throws {
        let receiver = Receiver()
        let router = Router()
        router.post("hook") { request, _ -> HTTPResponse.Status in
            let body = try await request.body.collect(upTo: 1 << 20)
            await receiver.authorized(request.headers[.authorization])
            return await receiver.receive(Array(body.readableBytesView)) ? .ok : .internalServerError
        }
        try await Application(router: router).test(.live) { client in
            let port = try #require(client.port)
            // The URL's credentials go as Basic authorization (they were not sent at all).
            try await CrashTestBed.run(containment: .processGroup, extra: ["events_webhook_url": "http://hook:s%40cret@127.0.0.1:\(port)/hook"]) { bed in
                let corral = try await bed.startCorral()
                _ = try await corral.start(#"{"agent": "sleeper", "session_id": "w1"}"#)
                #expect(try await corral.request(.DELETE, "/api/sessions/w1").status == 200)
                #expect(await ProcessProbe.waitUntil(timeout: .seconds(20)) { await receiver.types.count >= 3 })
                #expect(await receiver.types == ["session.started", "session.status", "session.ended"])
                #expect(await receiver.sessionIDs == ["w1"])
                #expect(await receiver.authorizations == ["Basic " + Data("hook:s@cret".utf8).base64EncodedString()])
            }
        }
    }

    /// A receiver that does not answer (its port refuses connections) does not hold corral's stop:
    /// what is left is tried for the shutdown's budget, then given up. (Each event was tried six
    /// times, and each try waited out a 10 s timeout: minutes before corral exited.)
    @Test func aReceiverThatDoesNotAnswerDoesNotHoldTheStop() async throws {
        let (refusing, port) = try LiveKitTestServer.bindLoopback(0)
        defer { close(refusing) }
        try await CrashTestBed.run(containment: .processGroup, extra: ["events_webhook_url": "http://127.0.0.1:\(port)/hook"]) { bed in
            let corral = try await bed.startCorral()
            _ = try await corral.start(#"{"agent": "sleeper", "session_id": "h1"}"#)
            _ = try await corral.start(#"{"agent": "sleeper", "session_id": "h2"}"#)
            #expect(await corral.terminate(timeout: .seconds(90)) == 0, "corral did not stop in 90 s: \(corral.log.suffix(3000))")
            #expect(corral.log.contains("events not delivered before corral stopped"), "\(corral.log.suffix(3000))")
        }
    }

    @Test func followedLogEndsWithTheSession() async throws {
        try await CrashTestBed.run(containment: .processGroup) { bed in
            let corral = try await bed.startCorral()
            _ = try await corral.start(#"{"agent": "cooperative", "session_id": "f1"}"#)
            let follower = Task {
                try await CommandRunner.run(CorralProcess.executable, ["logs", "f1", "--follow"], environment: ["CORRAL_URL": "http://127.0.0.1:\(corral.port)"])
            }
            try await Task.sleep(for: .milliseconds(300))
            #expect(try await corral.request(.DELETE, "/api/sessions/f1").status == 200)
            let result = try await follower.value
            #expect(result.status == 0)
            #expect(result.output.contains("cooperative agent"))
        }
    }
}
