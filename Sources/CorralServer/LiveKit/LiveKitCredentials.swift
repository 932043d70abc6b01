import CorralCore
import Foundation
import LiveKitWorkerProtocol
import CorralConfiguration
import CorralStore

/// Access tokens for agents: an HS256 JWT issued by the API key, for the agent's identity, with a
/// `video` grant to join the session's room, valid until the session's deadline plus a margin.
/// The agent gets `LIVEKIT_URL`, `LIVEKIT_ROOM` and `LIVEKIT_TOKEN` in its environment, never on
/// its command line, and never the API secret.
struct LiveKitCredentials: Sendable {
    let configuration: LiveKitConfiguration

    func token(identity: String, room: String, expiresAt: Date, now: Date = Date()) -> String {
        let claims: [String: Any] = [
            "iss": configuration.apiKey,
            "sub": identity,
            "jti": identity,
            "name": identity,
            "nbf": Int(now.timeIntervalSince1970) - 10,
            "exp": Int(expiresAt.timeIntervalSince1970 + configuration.tokenMarginSeconds),
            "video": ["roomJoin": true, "room": room, "canPublish": true, "canSubscribe": true, "canPublishData": true],
            "kind": "agent",
        ]
        return JWT.sign(claims, secret: configuration.apiSecret)
    }

    /// The variables for a session's agent, if its profile is a LiveKit one.
    func environment(for record: SessionRecord, profile: AgentProfile) -> [String: String] {
        guard profile.livekit, let room = record.livekitRoom, let identity = record.livekitIdentity else { return [:] }
        return [
            "LIVEKIT_URL": configuration.url,
            "LIVEKIT_ROOM": room,
            "LIVEKIT_TOKEN": token(identity: identity, room: room, expiresAt: record.expiresAt),
        ]
    }
}
