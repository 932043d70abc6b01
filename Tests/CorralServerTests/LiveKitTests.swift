import CorralCore
import CorralTestSupport
import Foundation
import HTTPTypes
import Testing

/// The virtualenv `.ci/run` makes with LiveKit's Python server SDK.
let livekitPython: String? = {
    let package = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let python = package.appendingPathComponent(".build/livekit-venv/bin/python").path
    return FileManager.default.isExecutableFile(atPath: python) ? python : nil
}()

@Suite("LiveKit", .enabled(if: livekitPython != nil, "no .build/livekit-venv with livekit-api (.ci/run makes it); the LiveKit tests are skipped"))
struct LiveKitTests {
    static let key = "APIcorraltest"
    static let secret = "a-secret-that-only-corral-and-livekit-know-0123456789"

    static func configure(autoDispatch: Bool = false) -> (inout CorralConfiguration) -> Void {
        { configuration in
            var livekit = LiveKitConfiguration(url: "wss://livekit.example.test", apiKey: key, apiSecret: secret)
            if autoDispatch { livekit.autoDispatchAgent = "voice" }
            configuration.livekit = livekit
            configuration.apiToken = "api-token"
            var profile = configuration.agents["sleeper"]!
            profile.livekit = true
            configuration.agents["voice"] = profile
        }
    }

    func sdk(_ arguments: String...) async throws -> CommandRunner.Result {
        try await CommandRunner.run(livekitPython!, [TestAgents.directory + "/../livekit_check.py"] + arguments)
    }

    func signedWebhook(_ client: TestCorral.Client, _ body: String, key: String = key, secret: String = secret, ttl: Int = 300, sentBody: String? = nil)
        async throws -> TestCorral.Client.Reply
    {
        let file = NSTemporaryDirectory() + "corral-webhook-" + UUID().uuidString
        try body.write(toFile: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }
        let signed = try await sdk("sign-webhook", key, secret, file, String(ttl))
        try #require(signed.status == 0, "\(signed.errors)")
        let token = signed.output.trimmingCharacters(in: .whitespacesAndNewlines)
        return try await client.request(.post, "/api/livekit/webhook", body: sentBody ?? body, headers: [.authorization: token])
    }

    @Test func agentsGetATokenLiveKitAccepts() async throws {
        try await TestCorral(configure: Self.configure()).run { client in
            let started = try await client.request(.post, "/api/sessions", body: #"{"agent": "voice", "livekit": {"room": "consult-17"}}"#)
            #expect(started.status == .created)
            let session = TestCorral.Session(started.json)
            #expect((started.json["livekit"] as? [String: String])?["room"] == "consult-17")
            let identity = try #require((started.json["livekit"] as? [String: String])?["identity"])
            let environment = try #require(ProcFS.environment(session.pid))
            #expect(environment["LIVEKIT_URL"] == "wss://livekit.example.test")
            #expect(environment["LIVEKIT_ROOM"] == "consult-17")
            let token = try #require(environment["LIVEKIT_TOKEN"])
            #expect(!environment.values.contains { $0.contains(Self.secret) }, "the API secret never reaches an agent")
            #expect(!(ProcFS.commandLine(session.pid) ?? []).joined().contains(token), "the token is not on the command line")
            let verified = try await sdk("verify-token", token, Self.key, Self.secret, "consult-17", identity)
            #expect(verified.status == 0, "LiveKit's TokenVerifier refused it: \(verified.errors)")
            // A LiveKit agent needs a room; a room has one session of a profile.
            #expect(try await client.request(.post, "/api/sessions", body: #"{"agent": "voice"}"#).status == .badRequest)
            #expect(try await client.request(.post, "/api/sessions", body: #"{"agent": "voice", "livekit": {"room": "consult-17"}}"#).status == .conflict)
        }
    }

    @Test func signedWebhooksEndSessionsAndForgeriesAreRefused() async throws {
        try await TestCorral(configure: Self.configure()).run { client in
            let inRoom = TestCorral.Session(try await client.request(.post, "/api/sessions", body: #"{"agent": "voice", "livekit": {"room": "r-1"}}"#).json)
            let left = TestCorral.Session(
                try await client.request(.post, "/api/sessions", body: #"{"agent": "voice", "livekit": {"room": "r-2", "identity": "agent-bob"}}"#).json
            )
            let finished = #"{"event": "room_finished", "room": {"name": "r-1", "sid": "RM_1"}, "id": "EV_1", "createdAt": "1700000000"}"#

            // Forgeries: a tampered body, another secret, an expired token, none at all.
            #expect(try await signedWebhook(client, finished, sentBody: finished.replacingOccurrences(of: "r-1", with: "r-2")).status == .unauthorized)
            #expect(try await signedWebhook(client, finished, secret: "not-the-secret-0123456789-0123456789").status == .unauthorized)
            #expect(try await signedWebhook(client, finished, key: "APIsomeoneelse").status == .unauthorized)
            #expect(try await signedWebhook(client, finished, ttl: -600).status == .unauthorized)
            #expect(try await client.request(.post, "/api/livekit/webhook", body: finished, headers: [.authorization: "Bearer api-token"]).status == .unauthorized)
            #expect(ProcessProbe.isAlive(inRoom.pid))

            let accepted = try await signedWebhook(client, finished)
            #expect(accepted.status == .ok, "\(accepted.text)")
            #expect(try await ProcessProbe.waitUntil { try await client.isGone(inRoom.id) })
            #expect(await inRoom.nothingLeft())
            // The same delivery again changes nothing.
            #expect(try await signedWebhook(client, finished).status == .ok)

            let participantLeft = #"{"event": "participant_left", "room": {"name": "r-2"}, "participant": {"identity": "agent-bob"}, "id": "EV_2"}"#
            #expect(try await signedWebhook(client, participantLeft).status == .ok)
            #expect(try await ProcessProbe.waitUntil { try await client.isGone(left.id) })
            let audit = try String(contentsOfFile: client.services.auditLog.path, encoding: .utf8)
            #expect(audit.contains("\"action\":\"webhook\""), "refused webhooks are audited")
        }
    }

    @Test func participantLeftEndsOnlyTheAgentInThatRoom() async throws {
        try await TestCorral(configure: Self.configure()).run { client in
            let elsewhere = TestCorral.Session(
                try await client.request(.post, "/api/sessions", body: #"{"agent": "voice", "livekit": {"room": "r-a", "identity": "agent-x"}}"#).json
            )
            // The same identity leaving another room, where corral runs no agent of that name.
            let otherRoom = #"{"event": "participant_left", "room": {"name": "r-b"}, "participant": {"identity": "agent-x"}, "id": "EV_LEFT_B"}"#
            let reply = try await signedWebhook(client, otherRoom)
            #expect(reply.status == .ok, "\(reply.text)")
            #expect((reply.json["ended"] as? [String]) == [], "\(reply.text)")
            #expect(!(try await client.isGone(elsewhere.id)), "a participant leaving r-b ended the agent in r-a")

            let inRoom = TestCorral.Session(
                try await client.request(.post, "/api/sessions", body: #"{"agent": "voice", "livekit": {"room": "r-b", "identity": "agent-x"}}"#).json
            )
            let again = #"{"event": "participant_left", "room": {"name": "r-b"}, "participant": {"identity": "agent-x"}, "id": "EV_LEFT_B2"}"#
            #expect(try await signedWebhook(client, again).json["ended"] as? [String] == [inRoom.id])
            #expect(try await ProcessProbe.waitUntil { try await client.isGone(inRoom.id) })
            #expect(!(try await client.isGone(elsewhere.id)))
            #expect(try await client.request(.delete, "/api/sessions/\(elsewhere.id)").status == .ok)
        }
    }

    @Test func autoDispatchStartsOneSessionPerRoom() async throws {
        try await TestCorral(configure: Self.configure(autoDispatch: true)).run { client in
            let started = #"{"event": "room_started", "room": {"name": "lobby-9"}, "id": "EV_9"}"#
            let again = #"{"event": "room_started", "room": {"name": "lobby-9"}, "id": "EV_10"}"#
            let replies = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                for body in [started, started, again] { group.addTask { try await signedWebhook(client, body).status } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(replies.allSatisfy { $0 == .ok })
            let listed = try await client.request(.get, "/api/sessions").json["sessions"] as? [[String: Any]] ?? []
            let inRoom = listed.filter { ($0["livekit"] as? [String: String])?["room"] == "lobby-9" }
            #expect(inRoom.count == 1, "\(listed)")
            #expect(inRoom.first?["agent"] as? String == "voice")
        }
    }
}
