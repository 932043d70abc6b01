import CorralCore
import CorralTestSupport
import Foundation
import Testing

extension LiveKitTests {
    /// The real binary, restarted between a delivery and its replay: the ids acted on are in the
    /// store, so a captured `room_finished` does not end the room's next session, nor a captured
    /// `room_started` start one, after the restart either.
    @Test(arguments: testedStores)
    func replayedWebhooksChangeNothingAfterARestart(store: StoreKind) async throws {
        switch store {
        case .sqlite:
            try await replayAcrossARestart(store: "sqlite:corral.db")
        case .redis:
            try await RedisServer.with { (redis: RedisServer) async throws in try await replayAcrossARestart(store: redis.url) }
        }
    }

    private func replayAcrossARestart(store: String) async throws {
        let livekit: [String: Any] = ["url": "wss://livekit.example.test", "api_key": Self.key, "api_secret": Self.secret, "auto_dispatch_agent": "voice"]
        try await CrashTestBed.run(containment: .processGroup, extra: ["store": store, "livekit": livekit]) { bed in
            var agents = bed.config["agents"] as? [String: Any] ?? [:]
            agents["voice"] = ["command": ["sleep", "1000"], "env": ["CORRAL_TEST_RUN": bed.tag], "livekit": true]
            bed.config["agents"] = agents
            func post(_ corral: CorralProcess, _ body: String, _ token: String) async throws -> CorralProcess.Reply {
                try await corral.request(.POST, "/api/livekit/webhook", body: body, headers: ["Authorization": token, "Content-Type": "application/webhook+json"])
            }
            func sessions(_ corral: CorralProcess, in room: String) async throws -> [String] {
                try await corral.sessions().filter { ($0["livekit"] as? [String: String])?["room"] == room }.map(\.sessionID)
            }

            var corral = try await bed.startCorral()
            let started = #"{"event": "room_started", "room": {"name": "restart-1"}, "id": "EV_RS1", "createdAt": "\#(Self.createdAt())"}"#
            let startedToken = try await signature(started)
            let dispatched = try await post(corral, started, startedToken)
            let first = try #require(dispatched.json["started"] as? String, "\(dispatched.text)")
            #expect(try await corral.request(.DELETE, "/api/sessions/\(first)").status == 200)

            let finished = #"{"event": "room_finished", "room": {"name": "restart-2"}, "id": "EV_RS2", "createdAt": "\#(Self.createdAt())"}"#
            let finishedToken = try await signature(finished)
            let ended = try await corral.start(#"{"agent": "voice", "livekit": {"room": "restart-2"}}"#)
            #expect(try await post(corral, finished, finishedToken).json["ended"] as? [String] == [ended.sessionID])
            #expect(try await ProcessProbe.waitUntil { try await sessions(corral, in: "restart-2").isEmpty })

            #expect(await corral.terminate() == 0, "corral did not exit cleanly: \(corral.log.suffix(2000))")
            corral = try await bed.startCorral()

            let next = try await corral.start(#"{"agent": "voice", "livekit": {"room": "restart-2"}}"#)
            let replayedEnd = try await post(corral, finished, finishedToken)
            #expect(replayedEnd.status == 200 && replayedEnd.json["ignored"] as? String == "already acted on", "\(replayedEnd.text)")
            let replayedStart = try await post(corral, started, startedToken)
            #expect(replayedStart.status == 200 && replayedStart.json["ignored"] as? String == "already acted on", "\(replayedStart.text)")
            #expect(try await sessions(corral, in: "restart-1").isEmpty, "a replayed room_started started a session again")
            #expect(try await sessions(corral, in: "restart-2") == [next.sessionID], "a replayed room_finished ended the room's next session")
            #expect(ProcessProbe.isAlive(next.pid))
            #expect(try await corral.request(.DELETE, "/api/sessions/\(next.sessionID)").status == 200)
        }
    }
}
