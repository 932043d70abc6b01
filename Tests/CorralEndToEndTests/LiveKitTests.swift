import CorralCore
import CorralPlatform
import CorralTestSupport
import Foundation
import HTTPTypes
import Testing
import CorralConfiguration

/// The virtualenv `scripts/test` makes with LiveKit's Python server SDK.
let livekitPython: String? = {
    let package = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let python = package.appendingPathComponent(".build/livekit-venv/bin/python").path
    return FileManager.default.isExecutableFile(atPath: python) ? python : nil
}()

@Suite("LiveKit", .enabled(if: livekitPython != nil, "no .build/livekit-venv with livekit-api: run the tests with scripts/test, which makes it; the LiveKit tests are skipped"))
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

    /// The Authorization value LiveKit would send with `body`.
    func signature(_ body: String, key: String = key, secret: String = secret, ttl: Int = 300) async throws -> String {
        let file = NSTemporaryDirectory() + "corral-webhook-" + UUID().uuidString
        try body.write(toFile: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }
        let signed = try await sdk("sign-webhook", key, secret, file, String(ttl))
        try #require(signed.status == 0, "\(signed.errors)")
        return signed.output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func signedWebhook(_ client: TestCorral.Client, _ body: String, key: String = key, secret: String = secret, ttl: Int = 300, sentBody: String? = nil)
        async throws -> TestCorral.Client.Reply
    {
        let token = try await signature(body, key: key, secret: secret, ttl: ttl)
        return try await client.request(.post, "/api/livekit/webhook", body: sentBody ?? body, headers: [.authorization: token])
    }

    /// `createdAt` as LiveKit writes it: seconds since 1970, as a string.
    static func createdAt(secondsAgo: Int = 0) -> String {
        String(Int(Date().timeIntervalSince1970) - secondsAgo)
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
            let finished = #"{"event": "room_finished", "room": {"name": "r-1", "sid": "RM_1"}, "id": "EV_1", "createdAt": "\#(Self.createdAt())"}"#

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
            #expect(try await signedWebhook(client, finished).json["ignored"] as? String == "already acted on")

            let participantLeft = #"{"event": "participant_left", "room": {"name": "r-2"}, "participant": {"identity": "agent-bob"}, "id": "EV_2"}"#
            #expect(try await signedWebhook(client, participantLeft).status == .ok)
            #expect(try await ProcessProbe.waitUntil { try await client.isGone(left.id) })
            client.services.auditLog.flushRefusals()
            let audit = try String(contentsOfFile: client.services.auditLog.path, encoding: .utf8)
            #expect(audit.contains("\"action\":\"webhook\""), "refused webhooks are audited")
        }
    }

    @Test func replayedWebhooksChangeNothing() async throws {
        try await TestCorral(configure: Self.configure(autoDispatch: true)).run { client in
            func post(_ body: String, _ token: String) async throws -> TestCorral.Client.Reply {
                try await client.request(.post, "/api/livekit/webhook", body: body, headers: [.authorization: token])
            }
            func sessions(in room: String) async throws -> [String] {
                let listed = try await client.request(.get, "/api/sessions").json["sessions"] as? [[String: Any]] ?? []
                return listed.filter { ($0["livekit"] as? [String: String])?["room"] == room }.compactMap { $0["session_id"] as? String }
            }

            // A captured room_started, replayed after the room's session ended, starts nothing.
            let started = #"{"event": "room_started", "room": {"name": "replay-1"}, "id": "EV_R1", "createdAt": "\#(Self.createdAt())"}"#
            let startedToken = try await signature(started)
            let first = try await post(started, startedToken)
            let session = try #require(first.json["started"] as? String, "\(first.text)")
            #expect(try await client.request(.delete, "/api/sessions/\(session)").status == .ok)
            let replayedStart = try await post(started, startedToken)
            #expect(replayedStart.status == .ok, "\(replayedStart.text)")
            #expect(replayedStart.json["ignored"] as? String == "already acted on", "\(replayedStart.text)")
            #expect(try await sessions(in: "replay-1").isEmpty, "a replayed room_started started a session again")

            // A captured room_finished, replayed, does not end the room's next session.
            let finished = #"{"event": "room_finished", "room": {"name": "replay-2"}, "id": "EV_R2", "createdAt": "\#(Self.createdAt())"}"#
            let finishedToken = try await signature(finished)
            _ = try await client.start(#"{"agent": "voice", "livekit": {"room": "replay-2"}}"#)
            #expect(try await post(finished, finishedToken).json["ended"] as? [String] != [])
            #expect(try await ProcessProbe.waitUntil { try await sessions(in: "replay-2").isEmpty })
            let next = try await client.start(#"{"agent": "voice", "livekit": {"room": "replay-2"}}"#)
            let replayedEnd = try await post(finished, finishedToken)
            #expect(replayedEnd.status == .ok && replayedEnd.json["ended"] == nil, "\(replayedEnd.text)")
            #expect(try await sessions(in: "replay-2") == [next.id], "a replayed room_finished ended the room's next session")

            // An event created longer ago than any signature corral accepts is not acted on,
            // even under a fresh signature and an id never seen.
            let stale = #"{"event": "room_finished", "room": {"name": "replay-2"}, "id": "EV_R3", "createdAt": "\#(Self.createdAt(secondsAgo: 3600))"}"#
            let staleReply = try await signedWebhook(client, stale)
            #expect(staleReply.status == .ok && staleReply.json["ignored"] as? String == "created too long ago", "\(staleReply.text)")
            #expect(try await sessions(in: "replay-2") == [next.id])
            #expect(try await client.request(.delete, "/api/sessions/\(next.id)").status == .ok)
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
